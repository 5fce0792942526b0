import type { RunDiskProgress, RunLogLine, RunSnapshot } from '../../shared/contract';
import type { SliceCreator } from './types';

/** Log lines kept per run in the renderer (the engine keeps 2 000; batches add up). */
export const RUN_LOG_CAP = 5_000;
/** Lines the log view renders at most: the newest that match the filter. */
export const LOG_VIEW_LIMIT = 500;

/** How long after a run ends the history is read again (the engine writes it after the last update). */
const HISTORY_REFRESH_DELAY_MS = 500;

export type RunsById = Record<string, RunSnapshot>;

export interface RunsSlice {
  runs: RunsById;
  runsError: string | null;
  /** Runs whose cancel was requested from this window. */
  cancelling: Record<string, boolean>;
  /** A batch of `runs:update`: changed runs, with only their new log lines. */
  applyRunUpdates(updates: RunSnapshot[]): void;
  /** `runs:list`: full snapshots (after a reload, or to catch up). */
  loadRuns(): Promise<void>;
  cancelRun(runId: string): Promise<void>;
}

// ---------- reducers (pure) ----------

/**
 * Appends `incoming` (sorted by seq) to `current`, dropping lines already
 * there, and keeps the newest `cap`. Returns `current` itself when nothing is new.
 */
export function mergeLog(current: RunLogLine[], incoming: RunLogLine[], cap = RUN_LOG_CAP): RunLogLine[] {
  if (incoming.length === 0) return current.length > cap ? current.slice(current.length - cap) : current;
  const lastSeq = current.length > 0 ? current[current.length - 1]!.seq : Number.NEGATIVE_INFINITY;
  let merged: RunLogLine[];
  if (incoming[0]!.seq > lastSeq) {
    merged = current.concat(incoming);
  } else {
    // Overlap (a full snapshot after deltas, or a repeated batch): union by seq.
    const bySeq = new Map<number, RunLogLine>();
    for (const line of current) bySeq.set(line.seq, line);
    for (const line of incoming) bySeq.set(line.seq, line);
    if (bySeq.size === current.length) return current;
    merged = [...bySeq.values()].sort((a, b) => a.seq - b.seq);
  }
  return merged.length > cap ? merged.slice(merged.length - cap) : merged;
}

/**
 * Applies one `runs:update` batch: every field of a changed run's snapshot
 * replaces the old one (state, steps, progress, warnings…), except `log`,
 * whose lines are appended.
 */
export function applyRunUpdates(runs: RunsById, updates: RunSnapshot[], cap = RUN_LOG_CAP): RunsById {
  if (updates.length === 0) return runs;
  const next = { ...runs };
  for (const update of updates) {
    const existing = next[update.id];
    next[update.id] = { ...update, log: mergeLog(existing?.log ?? [], update.log, cap) };
  }
  return next;
}

/** Applies `runs:list`: full snapshots, merged by seq with lines that may have arrived meanwhile. */
export function applyRunList(runs: RunsById, list: RunSnapshot[], cap = RUN_LOG_CAP): RunsById {
  return applyRunUpdates(runs, list, cap);
}

// ---------- selectors (pure) ----------

/** Newest first. */
export function sortedRuns(runs: RunsById): RunSnapshot[] {
  return Object.values(runs).sort((a, b) => b.startedAt - a.startedAt);
}

/** Percent from the job's own numbers (its total is rounded up to 64 KiB), 0–100, integer. */
export function diskPercent(disk: Pick<RunDiskProgress, 'done' | 'total'>): number {
  if (disk.total <= 0) return 0;
  return Math.max(0, Math.min(100, Math.floor((disk.done / disk.total) * 100)));
}

export function runPercent(run: Pick<RunSnapshot, 'disks'>): number {
  const total = run.disks.reduce((s, d) => s + d.total, 0);
  const done = run.disks.reduce((s, d) => s + Math.min(d.done, d.total), 0);
  return total > 0 ? Math.floor((done / total) * 100) : 0;
}

export type StepEntry = RunSnapshot['steps'][number];

/** Steps grouped per VM, VMs in the order of the run. */
export function stepsByVm(run: Pick<RunSnapshot, 'steps' | 'vmIds'>): Array<{ vm: string; steps: StepEntry[] }> {
  const groups = new Map<string, StepEntry[]>();
  for (const vm of run.vmIds) groups.set(vm, []);
  for (const step of run.steps) {
    const list = groups.get(step.vm) ?? [];
    list.push(step);
    groups.set(step.vm, list);
  }
  return [...groups].filter(([, steps]) => steps.length > 0).map(([vm, steps]) => ({ vm, steps }));
}

export type LogLevelFilter = 'all' | 'info' | 'warn' | 'error';
const RANK: Record<RunLogLine['level'], number> = { debug: 0, info: 1, warn: 2, error: 3 };
const MIN_RANK: Record<LogLevelFilter, number> = { all: 0, info: 1, warn: 2, error: 3 };

export interface LogFilter {
  level: LogLevelFilter;
  search: string;
}

export function logLineMatches(line: RunLogLine, filter: LogFilter, needle = filter.search.trim().toLowerCase()): boolean {
  if (RANK[line.level] < MIN_RANK[filter.level]) return false;
  if (!needle) return true;
  return (
    line.message.toLowerCase().includes(needle) ||
    (line.vm?.toLowerCase().includes(needle) ?? false) ||
    (line.disk?.toLowerCase().includes(needle) ?? false)
  );
}

/** The newest `limit` lines that match, and how many matched in all. */
export function filterLog(lines: RunLogLine[], filter: LogFilter, limit = LOG_VIEW_LIMIT): { lines: RunLogLine[]; matched: number } {
  const needle = filter.search.trim().toLowerCase();
  if (filter.level === 'all' && !needle) return { lines: lines.length > limit ? lines.slice(lines.length - limit) : lines, matched: lines.length };
  const out: RunLogLine[] = [];
  for (const line of lines) if (logLineMatches(line, filter, needle)) out.push(line);
  return { lines: out.length > limit ? out.slice(out.length - limit) : out, matched: out.length };
}

/** The log as text (for "Copy log"). */
export function logAsText(lines: RunLogLine[]): string {
  return lines
    .map((l) => `${new Date(l.time).toISOString()} ${l.level.toUpperCase().padEnd(5)} ${l.vm ? `[${l.vm}${l.disk ? `/${l.disk}` : ''}] ` : ''}${l.message}`)
    .join('\n');
}

// ---------- slice ----------

export const createRunsSlice: SliceCreator<RunsSlice> = (set, get, { api, fail }) => ({
  runs: {},
  runsError: null,
  cancelling: {},
  applyRunUpdates: (updates) => {
    const before = get().runs;
    set({ runs: applyRunUpdates(before, updates) });
    // A run just ended: the engine appends it to the history right after; refresh a history already shown.
    if (get().history.entries !== null && updates.some((u) => u.state !== 'running' && before[u.id]?.state === 'running')) {
      setTimeout(() => void get().loadHistory(), HISTORY_REFRESH_DELAY_MS);
    }
  },
  loadRuns: async () => {
    try {
      const list = await api().invoke('runs:list', undefined);
      set({ runs: applyRunList(get().runs, list), runsError: null });
    } catch (err) {
      set({ runsError: fail(err) });
    }
  },
  cancelRun: async (runId) => {
    set({ cancelling: { ...get().cancelling, [runId]: true } });
    try {
      await api().invoke('runs:cancel', { runId });
    } catch (err) {
      const { [runId]: _dropped, ...cancelling } = get().cancelling;
      set({ cancelling, runsError: fail(err) });
    }
  },
});
