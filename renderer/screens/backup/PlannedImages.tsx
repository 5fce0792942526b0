import type { PlannedImage } from '../../../shared/contract';
import { formatBytes, formatExactBytes } from '../../format';

/** Every fleecing image the backup will create: exact name, path, format and size. */
export function PlannedImages({ images }: { images: PlannedImage[] }) {
  if (images.length === 0) return <p className="empty">No fleecing images will be created.</p>;
  const total = images.reduce((s, i) => s + i.sizeBytes, 0);
  return (
    <table className="table" aria-label="Fleecing images">
      <thead>
        <tr>
          <th scope="col">VM</th>
          <th scope="col">Disk</th>
          <th scope="col">Image name</th>
          <th scope="col">Path</th>
          <th scope="col">Format</th>
          <th scope="col">Size</th>
        </tr>
      </thead>
      <tbody>
        {images.map((i) => (
          <tr key={`${i.vmId}/${i.device}`}>
            <td className="mono">{i.vmId}</td>
            <td className="mono">{i.device}</td>
            <td className="mono" data-testid="planned-image-name">
              {i.name}
            </td>
            <td className="mono">{i.path}</td>
            <td>{i.format}</td>
            <td title={formatExactBytes(i.sizeBytes)}>
              {formatBytes(i.sizeBytes)} <span className="muted">({formatExactBytes(i.sizeBytes)})</span>
            </td>
          </tr>
        ))}
      </tbody>
      <tfoot>
        <tr>
          <td colSpan={5}>Total (at most, if the guest overwrote every block during the backup)</td>
          <td>{formatBytes(total)}</td>
        </tr>
      </tfoot>
    </table>
  );
}
