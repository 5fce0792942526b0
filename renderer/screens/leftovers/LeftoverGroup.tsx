import type { Leftover } from '../../../shared/model';
import { LeftoverItem } from './LeftoverItem';

/** One class of leftovers (orphaned / unknown origin / in use). */
export function LeftoverGroup({ title, help, items, classId }: { title: string; help: string; items: Leftover[]; classId: string }) {
  return (
    <section className={`panel leftover-group group-${classId}`} aria-label={`${title} leftovers`}>
      <h2>
        {title} <span className="count">({items.length})</span>
      </h2>
      <p className="hint">{help}</p>
      {items.length === 0 ? (
        <p className="muted">None.</p>
      ) : (
        <ul className="leftover-list" aria-label={`${title} items`}>
          {items.map((item) => (
            <LeftoverItem key={item.id} item={item} />
          ))}
        </ul>
      )}
    </section>
  );
}
