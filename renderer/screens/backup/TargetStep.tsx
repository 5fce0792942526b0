import { Field } from '../../components/Field';
import { useAppStore } from '../../store/context';

/** Step 4: where the archives go, and an optional bandwidth limit. */
export function TargetStep() {
  const target = useAppStore((s) => s.wizard.target);
  const bwlimit = useAppStore((s) => s.wizard.bwlimit);
  const errors = useAppStore((s) => s.wizard.errors);
  const setTarget = useAppStore((s) => s.setTarget);
  const setBwlimit = useAppStore((s) => s.setBwlimit);
  return (
    <div className="step-body">
      <h2>Target</h2>
      <Field label="Backup target" error={errors.target} hint="A folder on the host: dir:/path. Each VM's archive goes to <target>/<vm>/<UTC timestamp>/.">
        {(p) => <input {...p} className="mono" value={target} onChange={(e) => setTarget(e.target.value)} placeholder="dir:/mnt/backup" />}
      </Field>
      <Field label="Bandwidth limit (MiB/s)" error={errors.bwlimit} hint="Per disk. Leave empty for no limit.">
        {(p) => <input {...p} type="number" min={0} step="any" value={bwlimit} onChange={(e) => setBwlimit(e.target.value)} placeholder="unlimited" />}
      </Field>
    </div>
  );
}
