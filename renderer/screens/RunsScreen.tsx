import { useEffect, useMemo } from 'react';
import { ErrorMessage } from '../components/ErrorMessage';
import { StateBadge } from '../components/StateBadge';
import { formatDateTime } from '../format';
import { useAppStore } from '../store/context';
import { runPercent, sortedRuns } from '../store/runs';

/** The runs the engine knows about since it started (live and finished). */
export function RunsScreen() {
  const runsById = useAppStore((s) => s.runs);
  const error = useAppStore((s) => s.runsError);
  const loadRuns = useAppStore((s) => s.loadRuns);
  const openRun = useAppStore((s) => s.openRun);
  const runs = useMemo(() => sortedRuns(runsById), [runsById]);
  useEffect(() => {
    void loadRuns();
  }, [loadRuns]);
  return (
    <section className="screen" aria-labelledby="runs-title">
      <header className="screen-header">
        <h1 id="runs-title">Runs</h1>
        <button type="button" onClick={() => void loadRuns()}>
          Refresh
        </button>
      </header>
      <ErrorMessage message={error} />
      {runs.length === 0 ? (
        <p className="empty">No runs since Shear started. Finished runs are listed under History.</p>
      ) : (
        <table className="table" aria-label="Runs">
          <thead>
            <tr>
              <th scope="col">Started</th>
              <th scope="col">Host</th>
              <th scope="col">VMs</th>
              <th scope="col">State</th>
              <th scope="col">Progress</th>
              <th scope="col">
                <span className="visually-hidden">Open</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {runs.map((r) => (
              <tr key={r.id} data-run-id={r.id}>
                <td className="nowrap">{formatDateTime(r.startedAt)}</td>
                <td>{r.hostLabel}</td>
                <td className="mono">{r.vmIds.join(', ')}</td>
                <td>
                  <StateBadge state={r.state} />
                </td>
                <td>{runPercent(r)}%</td>
                <td>
                  <button type="button" onClick={() => openRun(r.id)}>
                    Open
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
