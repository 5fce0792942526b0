/** A labelled progress bar: role progressbar, aria-valuenow = percent (0–100). */
export function ProgressBar({ label, percent }: { label: string; percent: number }) {
  const value = Math.max(0, Math.min(100, Math.round(percent)));
  return (
    <div className="progress" role="progressbar" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={value} aria-valuetext={`${value}%`}>
      <div className="progress-fill" style={{ width: `${value}%` }} />
    </div>
  );
}
