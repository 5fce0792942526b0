import { ErrorMessage } from '../components/ErrorMessage';
import { Field } from '../components/Field';
import { formatBytes } from '../format';
import { restoreBlocker } from '../store/archives';
import { useAppStore } from '../store/context';

/**
 * History → Restore…: which disks, where to (new images on a storage, or into a
 * VM that is not running, with an explicit yes), then the run screen.
 */
export function RestorePanel() {
  const f = useAppStore((s) => s.restoreForm);
  const edit = useAppStore((s) => s.editRestore);
  const close = useAppStore((s) => s.closeRestore);
  const start = useAppStore((s) => s.startRestore);
  if (!f) return null;
  const blocker = restoreBlocker(f);
  const toggle = (device: string) => edit({ disks: f.disks.includes(device) ? f.disks.filter((d) => d !== device) : [...f.disks, device] });
  return (
    <section className="panel" aria-labelledby="restore-title">
      <header className="screen-header">
        <h2 id="restore-title">
          Restore <span className="mono">{f.archive}</span>
        </h2>
        <button type="button" onClick={close}>
          Close
        </button>
      </header>
      {f.loading && <p role="status">Reading the archive…</p>}
      <ErrorMessage message={f.error} />
      {f.manifest && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void start();
          }}
        >
          <fieldset>
            <legend>Disks</legend>
            {f.manifest.disks.map((d) => (
              <label key={d.device} className="check">
                <input type="checkbox" checked={f.disks.includes(d.device)} onChange={() => toggle(d.device)} />
                <span className="mono">{d.device}</span> · {formatBytes(d.size)} · {d.role}
                {d.checksum ? '' : ' · no checksum'}
              </label>
            ))}
          </fieldset>
          <fieldset>
            <legend>Restore to</legend>
            <label className="check">
              <input type="radio" name="restore-mode" checked={f.mode === 'new'} onChange={() => edit({ mode: 'new' })} />
              New images on a storage (never overwrites anything)
            </label>
            <label className="check">
              <input type="radio" name="restore-mode" checked={f.mode === 'vm'} onChange={() => edit({ mode: 'vm' })} />
              Into the disks of a VM that is not running
            </label>
          </fieldset>
          {f.mode === 'new' ? (
            <Field label="Storage" hint="dir:/path, lvmthin:VG/POOL, zfs:POOL/DATASET, or a Proxmox storage id">
              {(p) => <input {...p} className="mono" value={f.storage} onChange={(e) => edit({ storage: e.target.value })} placeholder="dir:/var/lib/shear-restore" />}
            </Field>
          ) : (
            <>
              <Field label="VM" hint="Its id or name. A running VM is refused.">
                {(p) => <input {...p} className="mono" value={f.vm} onChange={(e) => edit({ vm: e.target.value })} />}
              </Field>
              <label className="check">
                <input type="checkbox" checked={f.confirm} onChange={(e) => edit({ confirm: e.target.checked })} />
                Overwrite the chosen disks of this VM
              </label>
            </>
          )}
          <div className="actions">
            <button type="submit" className="primary" disabled={f.starting || blocker !== null} title={blocker ?? undefined}>
              {f.starting ? 'Starting…' : 'Start restore'}
            </button>
            {blocker && <span className="muted small">{blocker}</span>}
          </div>
        </form>
      )}
    </section>
  );
}
