import { memo } from 'react';
import type { RunLogLine } from '../../../shared/contract';
import { formatClock } from '../../format';

/** One log line (memoised: lines never change once written). */
export const LogLine = memo(function LogLine({ line }: { line: RunLogLine }) {
  return (
    <li className={`log-line log-${line.level}`} data-level={line.level} data-seq={line.seq}>
      <span className="log-time">{formatClock(line.time)}</span>
      <span className="log-level">{line.level}</span>
      {line.vm && <span className="log-source">{line.disk ? `${line.vm}/${line.disk}` : line.vm}</span>}
      <span className="log-message">{line.message}</span>
    </li>
  );
});
