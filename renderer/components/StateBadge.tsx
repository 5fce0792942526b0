import type { RunState } from '../../shared/contract';

const LABELS: Record<RunState, string> = { running: 'Running', succeeded: 'Succeeded', failed: 'Failed', cancelled: 'Cancelled' };

/** The state of a run as a coloured badge; `data-state` carries the raw value. */
export function StateBadge({ state, testId }: { state: RunState; testId?: string }) {
  return (
    <span className={`badge badge-${state}`} data-state={state} data-testid={testId}>
      {LABELS[state]}
    </span>
  );
}
