import type { RunDiskProgress } from '../../../shared/contract';
import { ProgressBar } from '../../components/ProgressBar';
import { formatBytes, formatEta, formatLatency, formatRate } from '../../format';
import { diskPercent } from '../../store/runs';

/**
 * One disk's copy: a progress bar named `<vm>/<disk>`, bytes, rate and ETA, and
 * the guest's own write latency now vs. before the backup: what fleecing spares it.
 */
export function DiskProgress({ disk, live }: { disk: RunDiskProgress; live: boolean }) {
  const label = `${disk.vm}/${disk.disk}`;
  const percent = diskPercent(disk);
  return (
    <li className="disk-progress" data-disk={label}>
      <div className="row-between">
        <span className="mono">{label}</span>
        <span>{percent}%</span>
      </div>
      <ProgressBar label={label} percent={percent} />
      <div className="disk-stats muted">
        <span>
          {formatBytes(disk.done)} / {formatBytes(disk.total)}
        </span>
        {live && percent < 100 && (
          <>
            <span>{formatRate(disk.rate)}</span>
            <span>ETA {formatEta(disk.etaSeconds)}</span>
          </>
        )}
      </div>
      {disk.latencyNowUs !== undefined && (
        <div className="disk-latency muted" data-testid="write-latency" aria-label={`Guest write latency of ${label}`}>
          guest writes: {formatLatency(disk.latencyNowUs)} now
          {disk.latencyBeforeUs != null ? `, ${formatLatency(disk.latencyBeforeUs)} before the backup` : ', no writes before the backup'}
        </div>
      )}
    </li>
  );
}
