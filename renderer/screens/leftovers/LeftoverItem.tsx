import type { Leftover } from '../../../shared/model';
import { formatAge, formatBytes } from '../../format';
import { useAppStore } from '../../store/context';

/** One trace: what, why, where, how big and old; unknown ones can be removed one by one after confirming. */
export function LeftoverItem({ item }: { item: Leftover }) {
  const confirming = useAppStore((s) => s.leftovers.confirmingId === item.id);
  const cleaning = useAppStore((s) => s.leftovers.cleaning);
  const ask = useAppStore((s) => s.askRemoveUnknown);
  const cancel = useAppStore((s) => s.cancelRemoveUnknown);
  const confirm = useAppStore((s) => s.confirmRemoveUnknown);
  return (
    <li className={`leftover${item.urgent ? ' leftover-urgent' : ''}`} data-leftover-id={item.id} data-class={item.class} data-urgent={item.urgent || undefined}>
      <div className="leftover-head">
        <span className="kind">{item.kind}</span>
        <strong className="leftover-desc">{item.description}</strong>
        {item.urgent && <span className="tag-urgent">Urgent</span>}
      </div>
      <p className="leftover-reason">{item.reason}</p>
      <p className="leftover-meta muted">
        {[
          item.vm && `VM ${item.vm}`,
          item.storage && `storage ${item.storage}`,
          item.path,
          item.sizeBytes !== undefined && formatBytes(item.sizeBytes),
          item.ageMs !== undefined && `${formatAge(item.ageMs)} old`,
          item.runId && `run ${item.runId}`,
          item.heldBy && item.heldBy.length > 0 && `held open by PID ${item.heldBy.join(', ')}`,
        ]
          .filter(Boolean)
          .join(' · ')}
      </p>
      {item.class === 'unknown' &&
        (confirming ? (
          <div className="confirm" role="group" aria-label={`Remove ${item.description}?`}>
            <span>Shear does not know where this came from. Remove it for good?</span>
            <button type="button" className="danger" disabled={cleaning} onClick={() => void confirm(item.id)}>
              Confirm remove
            </button>
            <button type="button" onClick={cancel}>
              Keep it
            </button>
          </div>
        ) : (
          <button type="button" onClick={() => ask(item.id)} disabled={cleaning}>
            Remove…
          </button>
        ))}
    </li>
  );
}
