import { useAppStore } from '../store/context';
import { hostAddressLabel } from '../store/hosts';
import { Field } from './Field';

/**
 * A labelled select of the saved hosts: value = host id, option text = the
 * host's (unique) name, '' = none chosen. The address shows as a hint.
 */
export function HostSelect({ value, onChange, error, label = 'Host' }: { value: string; onChange: (hostId: string) => void; error?: string | null | undefined; label?: string }) {
  const hosts = useAppStore((s) => s.hosts);
  const chosen = hosts.find((h) => h.id === value);
  return (
    <Field label={label} error={error} hint={chosen ? hostAddressLabel(chosen) : undefined}>
      {(props) => (
        <select {...props} value={value} onChange={(e) => onChange(e.target.value)}>
          <option value="">Choose a host…</option>
          {hosts.map((h) => (
            <option key={h.id} value={h.id}>
              {h.name}
            </option>
          ))}
        </select>
      )}
    </Field>
  );
}
