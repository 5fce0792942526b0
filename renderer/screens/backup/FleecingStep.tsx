import { ErrorMessage } from '../../components/ErrorMessage';
import { Field } from '../../components/Field';
import { useAppStore } from '../../store/context';
import { checkedStorage, fleecingHints, formatChoices, selectedFleecedBytes, type FormatChoice } from '../../store/wizard';
import { StorageFacts } from './StorageFacts';

/** Step 3: fleecing on/off, the fleecing storage (checked on the host) and the image format. */
export function FleecingStep() {
  const w = useAppStore((s) => s.wizard);
  const setUseFleecing = useAppStore((s) => s.setUseFleecing);
  const setStorageSpec = useAppStore((s) => s.setStorageSpec);
  const checkStorage = useAppStore((s) => s.checkStorage);
  const setFormat = useAppStore((s) => s.setFormat);
  const storage = checkedStorage(w);
  const choices = formatChoices(storage);
  const auto = storage?.formats[0];
  return (
    <div className="step-body">
      <h2>Fleecing</h2>
      <label className="check">
        <input type="checkbox" checked={w.useFleecing} onChange={(e) => setUseFleecing(e.target.checked)} />
        Use fleecing
      </label>
      <p className="hint">
        While a disk is copied, the guest&apos;s writes to blocks not copied yet first save the old data to a fleecing image on the host instead of waiting for the backup
        target.
      </p>
      {w.useFleecing ? (
        <>
          <div className="inline-field">
            <Field label="Fleecing storage" error={w.errors.storage} hint="dir:/path, lvmthin:VG/POOL or zfs:POOL/DATASET on the host.">
              {(p) => <input {...p} className="mono" value={w.storageSpec} onChange={(e) => setStorageSpec(e.target.value)} placeholder="dir:/var/lib/shear-fleece" />}
            </Field>
            <button type="button" onClick={() => void checkStorage()} disabled={w.storageChecking}>
              {w.storageChecking ? 'Checking…' : 'Check'}
            </button>
          </div>
          <ErrorMessage message={w.storageError} />
          {storage && <StorageFacts storage={storage} neededBytes={selectedFleecedBytes(w)} />}
          <ul className="hints" aria-label="Fleecing hints">
            {fleecingHints(storage).map((h) => (
              <li key={h}>{h}</li>
            ))}
          </ul>
          <Field label="Image format" error={w.errors.format} hint={storage ? undefined : 'Check the storage to see the formats it supports.'}>
            {(p) => (
              <select {...p} value={w.format} onChange={(e) => setFormat(e.target.value as FormatChoice)}>
                {choices.map((f) => (
                  <option key={f} value={f}>
                    {f === 'auto' ? (auto ? `auto (${auto})` : 'auto') : f}
                  </option>
                ))}
              </select>
            )}
          </Field>
        </>
      ) : (
        <p className="warning">Without fleecing, the guest&apos;s writes to blocks not copied yet wait for the backup target while a disk is copied.</p>
      )}
    </div>
  );
}
