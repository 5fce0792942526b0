/** Warnings of a run, shown above everything else. */
export function RunWarnings({ warnings }: { warnings: string[] }) {
  if (warnings.length === 0) return null;
  return (
    <section className="warnings-box" aria-label="Warnings">
      <h2>
        {warnings.length} {warnings.length === 1 ? 'warning' : 'warnings'}
      </h2>
      <ul>
        {warnings.map((w, i) => (
          <li key={`${i}-${w}`}>{w}</li>
        ))}
      </ul>
    </section>
  );
}
