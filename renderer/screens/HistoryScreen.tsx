import { useEffect } from 'react';
import { ErrorMessage } from '../components/ErrorMessage';
import { StateBadge } from '../components/StateBadge';
import { formatDateTime, formatDuration } from '../format';
import { useAppStore } from '../store/context';
import { RestorePanel } from './RestorePanel';

/** Finished runs, newest first (history:list). */
export function HistoryScreen() {
  const { entries, loading, error } = useAppStore((s) => s.history);
  const loadHistory = useAppStore((s) => s.loadHistory);
  const verifyArchive = useAppStore((s) => s.verifyArchive);
  const openRestore = useAppStore((s) => s.openRestore);
  const verifyErrors = useAppStore((s) => s.verifyErrors);
  useEffect(() => {
    void loadHistory();
  }, [loadHistory]);
  return (
    <section className="screen" aria-labelledby="history-title">
      <header className="screen-header">
        <h1 id="history-title">History</h1>
        <button type="button" onClick={() => void loadHistory()} disabled={loading}>
          Refresh
        </button>
      </header>
      <ErrorMessage message={error} />
      {loading && !entries && <p role="status">Loading…</p>}
      {entries && entries.length === 0 && <p className="empty">No backups yet.</p>}
      <RestorePanel />
      {entries && entries.length > 0 && (
        <table className="table" aria-label="Backup history">
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Host</th>
              <th scope="col">What</th>
              <th scope="col">VMs</th>
              <th scope="col">Result</th>
              <th scope="col">Duration</th>
              <th scope="col">Archives</th>
            </tr>
          </thead>
          <tbody>
            {entries.map((e) => (
              <tr key={e.runId} data-run-id={e.runId}>
                <td className="nowrap">{formatDateTime(e.startedAt)}</td>
                <td>{e.hostLabel}</td>
                <td>{e.kind ?? 'backup'}</td>
                <td className="mono">{e.vmIds.join(', ')}</td>
                <td>
                  <StateBadge state={e.state} />
                  {e.error && <div className="error small">{e.error}</div>}
                </td>
                <td className="nowrap">{formatDuration(e.finishedAt - e.startedAt)}</td>
                <td className="mono">
                  {e.archives.length === 0 ? (
                    <span className="muted">—</span>
                  ) : (
                    <ul className="archives">
                      {e.archives.map((a) => (
                        <li key={a}>
                          {a}
                          {/* Only backups made archives (a failed or cancelled run keeps those it finished);
                              entries of older versions do not know their host. */}
                          {e.hostId && (e.kind ?? 'backup') === 'backup' && (
                            <span className="row-actions">
                              <button type="button" onClick={() => void verifyArchive(e.hostId as string, a)} aria-label={`Verify ${a}`}>
                                Verify
                              </button>
                              <button type="button" onClick={() => void openRestore(e.hostId as string, a)} aria-label={`Restore ${a}`}>
                                Restore…
                              </button>
                            </span>
                          )}
                          {verifyErrors[a] && <div className="error small">{verifyErrors[a]}</div>}
                        </li>
                      ))}
                    </ul>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
