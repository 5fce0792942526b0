import { useState, type FormEvent } from 'react';
import type { Host } from '../../../shared/contract';
import { ErrorMessage } from '../../components/ErrorMessage';
import { Field } from '../../components/Field';
import { useAppStore } from '../../store/context';
import { emptyHostForm, hostFormToInput, hostToForm, type HostForm as HostFormData, type HostFormErrors } from '../../store/hosts';

/** Add or edit one host. Secrets are write-only: an edit never shows the stored one. */
export function HostForm({ host, initial, onDone }: { host: Host | null; initial?: HostFormData; onDone: () => void }) {
  const saveHost = useAppStore((s) => s.saveHost);
  const [form, setForm] = useState<HostFormData>(() => (host ? hostToForm(host) : (initial ?? emptyHostForm())));
  const [errors, setErrors] = useState<HostFormErrors>({});
  const [saveError, setSaveError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);

  const update = <K extends keyof HostFormData>(key: K, value: HostFormData[K]) => {
    setForm((f) => ({ ...f, [key]: value }));
    setErrors((e) => ({ ...e, [key]: undefined }));
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const { input, errors: found } = hostFormToInput(form);
    setErrors(found);
    if (!input) return;
    setSaving(true);
    const error = await saveHost(host?.id, input);
    setSaving(false);
    setSaveError(error);
    if (!error) onDone();
  };

  const keepsSecret = host?.hasSecret && host.authKind === form.authKind;
  const title = host ? `Edit ${host.name}` : 'New host';
  return (
    <form className="panel form" aria-label={title} onSubmit={(e) => void submit(e)} noValidate>
      <h2>{title}</h2>
      <div className="form-grid">
        <Field label="Name" error={errors.name}>
          {(p) => <input {...p} value={form.name} onChange={(e) => update('name', e.target.value)} placeholder="pve1" />}
        </Field>
        <Field label="Address" error={errors.address} hint="Host name, IP address or ~/.ssh/config alias.">
          {(p) => <input {...p} value={form.address} onChange={(e) => update('address', e.target.value)} placeholder="192.168.1.10" />}
        </Field>
        <Field label="Port" error={errors.port}>
          {(p) => <input {...p} inputMode="numeric" value={form.port} onChange={(e) => update('port', e.target.value)} />}
        </Field>
        <Field label="User" error={errors.user}>
          {(p) => <input {...p} value={form.user} onChange={(e) => update('user', e.target.value)} />}
        </Field>
        <Field label="Authentication">
          {(p) => (
            <select {...p} value={form.authKind} onChange={(e) => update('authKind', e.target.value as HostFormData['authKind'])}>
              <option value="agent">SSH agent</option>
              <option value="key">Key file</option>
              <option value="password">Password</option>
            </select>
          )}
        </Field>
        {form.authKind === 'key' && (
          <>
            <Field label="Private key file" error={errors.privateKeyPath} hint="Path on this computer, e.g. ~/.ssh/id_ed25519.">
              {(p) => <input {...p} value={form.privateKeyPath} onChange={(e) => update('privateKeyPath', e.target.value)} />}
            </Field>
            <Field label="Key passphrase (optional)" error={errors.passphrase} hint={keepsSecret ? 'Leave empty to keep the stored passphrase.' : undefined}>
              {(p) => <input {...p} type="password" autoComplete="off" value={form.passphrase} onChange={(e) => update('passphrase', e.target.value)} />}
            </Field>
          </>
        )}
        {form.authKind === 'password' && (
          <Field label="Password" error={errors.password} hint={host?.hasSecret ? 'Enter the password again to save the host.' : undefined}>
            {(p) => <input {...p} type="password" autoComplete="off" value={form.password} onChange={(e) => update('password', e.target.value)} />}
          </Field>
        )}
      </div>
      <ErrorMessage message={saveError} />
      <div className="actions">
        <button type="button" onClick={onDone}>
          Cancel
        </button>
        <button type="submit" className="primary" disabled={saving}>
          {saving ? 'Saving…' : 'Save host'}
        </button>
      </div>
    </form>
  );
}
