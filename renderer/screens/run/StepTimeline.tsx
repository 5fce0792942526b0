import type { RunSnapshot } from '../../../shared/contract';
import { formatDuration } from '../../format';
import { stepsByVm } from '../../store/runs';

const MARK = { started: '…', done: '✓', failed: '✗' } as const;

/** The run's steps per VM, with how long each took. */
export function StepTimeline({ run }: { run: RunSnapshot }) {
  const groups = stepsByVm(run);
  if (groups.length === 0) return <p className="muted">No steps yet.</p>;
  return (
    <div className="timeline">
      {groups.map((g) => (
        <div key={g.vm} className="timeline-vm">
          <h3 className="mono">{g.vm}</h3>
          <ol aria-label={`Steps of ${g.vm}`}>
            {g.steps.map((s) => (
              <li key={s.step} className={`timeline-step step-state-${s.state}`} data-state={s.state}>
                <span className="timeline-mark" aria-hidden="true">
                  {MARK[s.state]}
                </span>
                <span className="timeline-name">{s.step}</span>
                <span className="timeline-ms muted">{s.ms !== undefined ? formatDuration(s.ms) : s.state === 'started' ? 'running' : s.state}</span>
              </li>
            ))}
          </ol>
        </div>
      ))}
    </div>
  );
}
