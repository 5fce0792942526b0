import type { CleanupReport } from '../../../shared/model';

/** What the last cleanup removed, skipped and failed to remove. */
export function CleanupReportView({ report }: { report: CleanupReport }) {
  return (
    <section className="panel report" aria-label="Cleanup report">
      <h2>Cleanup report</h2>
      <div className="report-cols">
        <div>
          <h3>Removed ({report.removed.length})</h3>
          <ul aria-label="Removed">
            {report.removed.map((r) => (
              <li key={r.id}>{r.description}</li>
            ))}
          </ul>
        </div>
        <div>
          <h3>Skipped ({report.skipped.length})</h3>
          <ul aria-label="Skipped">
            {report.skipped.map((r) => (
              <li key={r.id}>
                {r.description} <span className="muted">— {r.reason}</span>
              </li>
            ))}
          </ul>
        </div>
        <div>
          <h3>Failed ({report.failed.length})</h3>
          <ul aria-label="Failed">
            {report.failed.map((r) => (
              <li key={r.id} className="error">
                {r.description} — {r.error}
              </li>
            ))}
          </ul>
        </div>
      </div>
    </section>
  );
}
