/**
 * The compensation list of a run (a saga): a step registers how to undo what it
 * created only AFTER it succeeded; unwinding runs them in reverse, each on its
 * own (one failing undo never stops the next), and reports failures as warnings.
 *
 * Some entries are teardown that happens on every path (detach a filter, delete
 * a node, free a fleecing image); others only roll back a failed run (delete
 * the half-written archive). `unwind(ok)` skips the latter after success.
 */
export interface UndoEntry {
  name: string;
  /** 'always': teardown, also after success. 'on-failure': rollback only. */
  when: 'always' | 'on-failure';
  run: (outcome: UnwindOutcome) => Promise<void>;
}

export interface UnwindOutcome {
  /** Whether the run succeeded (teardown may differ, e.g. dismiss vs. cancel a job). */
  ok: boolean;
}

export interface UnwindReport {
  done: string[];
  failed: Array<{ name: string; error: string }>;
}

export class UndoStack {
  private readonly entries: UndoEntry[] = [];

  push(name: string, run: UndoEntry['run'], when: UndoEntry['when'] = 'always'): void {
    this.entries.push({ name, run, when });
  }

  get size(): number {
    return this.entries.length;
  }

  /** Names in registration order (for journals and tests). */
  names(): string[] {
    return this.entries.map((e) => e.name);
  }

  /**
   * Runs every entry in reverse and empties the stack. Never throws: failures
   * are collected and passed to `warn`, so the caller can re-raise its own error.
   */
  async unwind(outcome: UnwindOutcome, warn: (message: string) => void): Promise<UnwindReport> {
    const report: UnwindReport = { done: [], failed: [] };
    while (this.entries.length > 0) {
      const entry = this.entries.pop() as UndoEntry;
      if (entry.when === 'on-failure' && outcome.ok) continue;
      try {
        await entry.run(outcome);
        report.done.push(entry.name);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        report.failed.push({ name: entry.name, error: message });
        warn(`cleanup step "${entry.name}" failed: ${message}`);
      }
    }
    return report;
  }
}
