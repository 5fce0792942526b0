import { useMemo } from 'react';
import { ErrorMessage } from '../../components/ErrorMessage';
import { Field } from '../../components/Field';
import { HostSelect } from '../../components/HostSelect';
import { useAppStore } from '../../store/context';
import { LEFTOVER_CLASSES, groupLeftovers } from '../../store/leftovers';
import { CleanupReportView } from './CleanupReportView';
import { LeftoverGroup } from './LeftoverGroup';

/** Traces crashed runs left on a host: scan, clean up the orphaned ones, remove unknown ones one by one. */
export function LeftoversScreen() {
  const l = useAppStore((s) => s.leftovers);
  const setHost = useAppStore((s) => s.setLeftoversHost);
  const setStorages = useAppStore((s) => s.setLeftoversStorages);
  const scan = useAppStore((s) => s.scanLeftovers);
  const cleanOrphaned = useAppStore((s) => s.cleanOrphaned);
  const groups = useMemo(() => (l.items ? groupLeftovers(l.items) : null), [l.items]);
  const urgent = l.items?.filter((i) => i.urgent).length ?? 0;
  return (
    <section className="screen" aria-labelledby="leftovers-title">
      <header className="screen-header">
        <h1 id="leftovers-title">Leftovers</h1>
      </header>
      <p className="lede">Jobs, block nodes, filters, fleecing images and unfinished archives a crashed or killed run left behind.</p>
      <form
        className="panel form"
        aria-label="Scan for leftovers"
        onSubmit={(e) => {
          e.preventDefault();
          void scan();
        }}
      >
        <div className="form-grid">
          <HostSelect value={l.hostId} onChange={setHost} />
          <Field label="Fleecing storages" hint="The fleecing storages to look in, separated by commas or new lines (e.g. dir:/var/lib/shear-fleece).">
            {(p) => <textarea {...p} className="mono" rows={2} value={l.storagesText} onChange={(e) => setStorages(e.target.value)} placeholder="dir:/var/lib/shear-fleece" />}
          </Field>
        </div>
        <ErrorMessage message={l.inputError} />
        <div className="actions">
          <button type="submit" className="primary" disabled={l.scanning}>
            Scan
          </button>
          {l.scanning && <span role="status">Scanning…</span>}
        </div>
      </form>
      <ErrorMessage message={l.error} />
      {l.report && <CleanupReportView report={l.report} />}
      {groups && (
        <>
          <div className="row-between">
            <p role="status">
              {l.items?.length ?? 0} found{urgent > 0 ? `, ${urgent} urgent (a filter still under a device slows the guest's writes)` : ''}.
            </p>
            <div className="actions">
              {l.cleaning && <span role="status">Cleaning up…</span>}
              <button type="button" className="primary" onClick={() => void cleanOrphaned()} disabled={l.cleaning || groups.orphaned.length === 0}>
                Clean up
              </button>
            </div>
          </div>
          {LEFTOVER_CLASSES.map((c) => (
            <LeftoverGroup key={c.id} classId={c.id} title={c.title} help={c.help} items={groups[c.id]} />
          ))}
        </>
      )}
    </section>
  );
}
