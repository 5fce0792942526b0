import { StateBadge } from '../../components/StateBadge';
import { formatDateTime, formatDuration } from '../../format';
import { useNow } from '../../hooks/useNow';
import { useAppStore } from '../../store/context';
import { DiskProgress } from './DiskProgress';
import { LogView } from './LogView';
import { RunWarnings } from './RunWarnings';
import { StepTimeline } from './StepTimeline';

/** One run, live: state, warnings, per-disk progress, steps and the log. */
const KIND_TITLE = { backup: 'Backup of', verify: 'Verify of', restore: 'Restore of' } as const;

export function RunScreen() {
  const runId = useAppStore((s) => s.currentRunId);
  const run = useAppStore((s) => (s.currentRunId ? s.runs[s.currentRunId] : undefined));
  const cancelling = useAppStore((s) => (s.currentRunId ? Boolean(s.cancelling[s.currentRunId]) : false));
  const cancelRun = useAppStore((s) => s.cancelRun);
  const runsError = useAppStore((s) => s.runsError);
  const navigate = useAppStore((s) => s.navigate);
  const live = run?.state === 'running';
  const now = useNow(1000, live);

  if (!runId || !run) {
    return (
      <section className="screen" aria-labelledby="run-title">
        <h1 id="run-title">Run</h1>
        <p role="status">{runId ? 'Starting…' : 'No run selected.'}</p>
        <button type="button" onClick={() => navigate('runs')}>
          All runs
        </button>
      </section>
    );
  }

  const elapsed = (run.finishedAt ?? Math.max(now, run.startedAt)) - run.startedAt;
  return (
    <section className="screen" aria-labelledby="run-title" data-run-id={run.id}>
      <header className="screen-header">
        <h1 id="run-title">
          {KIND_TITLE[run.kind]} <span className="mono">{run.vmIds.join(', ')}</span>
        </h1>
        <StateBadge state={run.state} testId="run-state" />
        {live && (
          <button type="button" className="danger" onClick={() => void cancelRun(run.id)} disabled={cancelling}>
            Cancel {run.kind}
          </button>
        )}
      </header>
      <p className="lede">
        {run.hostLabel} · started {formatDateTime(run.startedAt)} · {live ? 'running for' : 'took'} {formatDuration(elapsed)}
        {cancelling && live && <span role="status"> · cancelling, tearing down…</span>}
      </p>
      {run.error && (
        <p role="alert" className="error-box">
          {run.error}
        </p>
      )}
      {runsError && (
        <p role="alert" className="error">
          {runsError}
        </p>
      )}
      <RunWarnings warnings={run.warnings} />
      <div className="run-grid">
        <section className="panel" aria-label="Disks">
          <h2>Disks</h2>
          {run.disks.length === 0 ? (
            <p className="muted">No disk is being copied yet.</p>
          ) : (
            <ul className="disk-progress-list">
              {run.disks.map((d) => (
                <DiskProgress key={`${d.vm}/${d.disk}`} disk={d} live={live} />
              ))}
            </ul>
          )}
          {run.archives.length > 0 && (
            <>
              <h3>Archives</h3>
              <ul className="mono archives" aria-label="Archives">
                {run.archives.map((a) => (
                  <li key={a}>{a}</li>
                ))}
              </ul>
            </>
          )}
        </section>
        <section className="panel" aria-label="Steps">
          <h2>Steps</h2>
          <StepTimeline run={run} />
        </section>
      </div>
      <section className="panel" aria-label="Log">
        <h2>Log</h2>
        <LogView lines={run.log} />
      </section>
    </section>
  );
}
