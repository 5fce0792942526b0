import { ErrorMessage } from '../../components/ErrorMessage';
import { useAppStore } from '../../store/context';
import { DirectDisks } from './DirectDisks';
import { PlannedImages } from './PlannedImages';

/** Step 5: what will happen, from backup:plan — every image that will be created, by its exact name. */
export function ReviewStep() {
  const w = useAppStore((s) => s.wizard);
  const host = useAppStore((s) => s.hosts.find((h) => h.id === s.wizard.hostId));
  const loadPlan = useAppStore((s) => s.loadPlan);
  return (
    <div className="step-body">
      <h2>Review</h2>
      <dl className="facts">
        <dt>Host</dt>
        <dd>{host?.name ?? w.hostId}</dd>
        <dt>VMs</dt>
        <dd className="mono">{w.selectedVmIds.join(', ')}</dd>
        <dt>Fleecing</dt>
        <dd className="mono">{w.useFleecing ? `${w.storageSpec.trim()} (format ${w.format})` : 'off'}</dd>
        <dt>Target</dt>
        <dd className="mono">{w.target.trim()}</dd>
        <dt>Bandwidth limit</dt>
        <dd>{w.bwlimit.trim() ? `${w.bwlimit.trim()} MiB/s per disk` : 'none'}</dd>
      </dl>
      {w.planLoading && <p role="status">Planning…</p>}
      {w.planError && (
        <>
          <ErrorMessage message={w.planError} />
          <button type="button" onClick={() => void loadPlan()}>
            Retry
          </button>
        </>
      )}
      {w.plan && (
        <>
          {w.plan.warnings.length > 0 && (
            <ul className="warnings" aria-label="Plan warnings">
              {w.plan.warnings.map((msg) => (
                <li key={msg}>{msg}</li>
              ))}
            </ul>
          )}
          <h3>Fleecing images to be created</h3>
          <PlannedImages images={w.plan.images} />
          {w.plan.direct.length > 0 && <h3>Disks copied directly</h3>}
          <DirectDisks disks={w.plan.direct} />
        </>
      )}
      <ErrorMessage message={w.startError} />
    </div>
  );
}
