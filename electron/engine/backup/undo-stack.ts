import { UncertainOutcomeError } from '../ssh/exec.js';

/**
 * The compensation list of a run (a saga): a step registers how to undo what it
 * created as soon as it may exist (after success, or before a command whose
 * outcome may stay unknown); unwinding runs them in reverse, each on its
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
  /**
   * Neighbouring entries of one group are independent of each other (e.g. freeing
   * one fleecing image per disk): they run at the same time, each still on its own.
   */
  group?: string;
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

  push(name: string, run: UndoEntry['run'], when: UndoEntry['when'] = 'always', group?: string): void {
    this.entries.push({ name, run, when, ...(group ? { group } : {}) });
  }

  /**
   * Runs a step that hands back its own undo (a lock's release) and registers it. A step
   * whose outcome is unknown (the link died under it) carries an undo in its error: that one
   * is registered instead, as if the step had happened.
   */
  async take(name: string, step: () => Promise<() => Promise<void>>): Promise<void> {
    try {
      this.push(name, await step());
    } catch (err) {
      if (err instanceof UncertainOutcomeError) this.push(name, err.undo);
      throw err;
    }
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
    const runOne = async (entry: UndoEntry) => {
      try {
        await entry.run(outcome);
        report.done.push(entry.name);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        report.failed.push({ name: entry.name, error: message });
        warn(`cleanup step "${entry.name}" failed: ${message}`);
      }
    };
    while (this.entries.length > 0) {
      const batch = [this.entries.pop() as UndoEntry];
      const group = batch[0]?.group;
      while (group !== undefined && this.entries.at(-1)?.group === group) batch.push(this.entries.pop() as UndoEntry);
      await Promise.all(batch.filter((e) => !(e.when === 'on-failure' && outcome.ok)).map(runOne));
    }
    return report;
  }
}
