import type { BackupPlanPreview } from '../../../shared/contract';
import { formatBytes } from '../../format';

/** Disks copied without a fleecing image, and why. */
export function DirectDisks({ disks }: { disks: BackupPlanPreview['direct'] }) {
  if (disks.length === 0) return null;
  return (
    <table className="table" aria-label="Disks copied directly">
      <thead>
        <tr>
          <th scope="col">VM</th>
          <th scope="col">Disk</th>
          <th scope="col">Size</th>
          <th scope="col">Why</th>
        </tr>
      </thead>
      <tbody>
        {disks.map((d) => (
          <tr key={`${d.vmId}/${d.device}`}>
            <td className="mono">{d.vmId}</td>
            <td className="mono">{d.device}</td>
            <td>{formatBytes(d.sizeBytes)}</td>
            <td>{d.reason}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
