import { randomUUID } from 'node:crypto';
import type { RunEvent } from '../../../shared/model.js';
import type { RunKind, RunLogLine, RunSnapshot, RunState } from '../../../shared/contract.js';

/** Lines kept per run: the UI shows the newest; the rest is in the CLI/JSON if anyone needs it. */
export const LOG_CAP = 2_000;
/** Events are pushed in batches so thousands of log lines never flood the renderer. */
export const BATCH_MS = 100;

interface RunRecord {
  snapshot: RunSnapshot;
  seq: number;
  /** Lines added since the last batch went out. */
  fresh: RunLogLine[];
  controller: AbortController;
  samples: Map<string, { time: number; done: number; rate: number }>;
}

/**
 * Runs are owned by the main side: ids, state, steps, per-disk progress and a
 * capped log. Faces get snapshots (a reloaded renderer asks for them) and
 * batched deltas (only changed runs, only new log lines).
 */
export class RunManager {
  private readonly runs = new Map<string, RunRecord>();
  private readonly dirty = new Set<string>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly publish: (updates: RunSnapshot[]) => void) {}

  create(o: { hostId: string; hostLabel: string; vmIds: string[]; kind?: RunKind }): { id: string; signal: AbortSignal } {
    const id = randomUUID();
    const controller = new AbortController();
    this.runs.set(id, {
      seq: 0,
      fresh: [],
      controller,
      samples: new Map(),
      snapshot: {
        id, kind: o.kind ?? 'backup', hostId: o.hostId, hostLabel: o.hostLabel, vmIds: o.vmIds, state: 'running', startedAt: Date.now(), finishedAt: null,
        steps: [], disks: [], log: [], warnings: [], archives: [], error: null,
      },
    });
    this.touch(id);
    return { id, signal: controller.signal };
  }

  cancel(id: string): void {
    const run = this.runs.get(id);
    if (!run) throw new Error(`no run ${id}`);
    if (run.snapshot.state !== 'running') return;
    this.log(id, 'warn', run.snapshot.kind === 'backup' ? 'cancel requested: tearing down what the backup created' : 'cancel requested');
    run.controller.abort();
  }

  log(id: string, level: RunLogLine['level'], message: string, extra: { vm?: string; disk?: string } = {}): void {
    const run = this.runs.get(id);
    if (!run) return;
    const line: RunLogLine = { seq: ++run.seq, time: Date.now(), level, message, ...extra };
    run.snapshot.log.push(line);
    if (run.snapshot.log.length > LOG_CAP) run.snapshot.log.splice(0, run.snapshot.log.length - LOG_CAP);
    run.fresh.push(line);
    if (run.fresh.length > LOG_CAP) run.fresh.splice(0, run.fresh.length - LOG_CAP);
    this.touch(id);
  }

  /** Applies one engine event of the backup of `vm`. */
  apply(id: string, vm: string, e: RunEvent): void {
    const run = this.runs.get(id);
    if (!run) return;
    const s = run.snapshot;
    switch (e.type) {
      case 'log':
        if (e.level !== 'debug') this.log(id, e.level, e.message, { vm, ...(e.disk ? { disk: e.disk } : {}) });
        return;
      case 'warning':
        s.warnings.push(`${vm}: ${e.message}`);
        this.log(id, 'warn', e.message, { vm });
        return;
      case 'step': {
        const existing = s.steps.find((x) => x.vm === vm && x.step === e.step);
        if (existing) {
          existing.state = e.state;
          if (e.ms !== undefined) existing.ms = e.ms;
        } else s.steps.push({ vm, step: e.step, state: e.state, ...(e.ms !== undefined ? { ms: e.ms } : {}) });
        break;
      }
      case 'progress': {
        const key = `${vm}/${e.disk}`;
        const prev = run.samples.get(key);
        let rate = prev?.rate ?? 0;
        if (prev && e.time > prev.time) {
          const instant = ((e.done - prev.done) * 1000) / (e.time - prev.time);
          rate = prev.rate > 0 ? prev.rate * 0.7 + instant * 0.3 : instant;
        }
        run.samples.set(key, { time: e.time, done: e.done, rate });
        const disk = s.disks.find((d) => d.vm === vm && d.disk === e.disk);
        const etaSeconds = rate > 0 ? Math.ceil((e.total - e.done) / rate) : null;
        if (disk) Object.assign(disk, { done: e.done, total: e.total, rate, etaSeconds });
        else s.disks.push({ vm, disk: e.disk, done: e.done, total: e.total, rate, etaSeconds });
        break;
      }
      case 'latency': {
        const disk = s.disks.find((d) => d.vm === vm && d.disk === e.disk);
        if (!disk) return;
        disk.latencyNowUs = e.nowUs;
        disk.latencyBeforeUs = e.beforeUs;
        break;
      }
      case 'result':
        if (e.ok && e.archive) s.archives.push(e.archive);
        if (!e.ok && e.error) this.log(id, 'error', e.error, { vm });
        break;
    }
    this.touch(id);
  }

  finish(id: string, state: Exclude<RunState, 'running'>, error: string | null): RunSnapshot {
    const run = this.runs.get(id);
    if (!run) throw new Error(`no run ${id}`);
    run.snapshot.state = state;
    run.snapshot.error = error;
    run.snapshot.finishedAt = Date.now();
    this.touch(id);
    return run.snapshot;
  }

  list(): RunSnapshot[] {
    return [...this.runs.values()].map((r) => r.snapshot);
  }

  private touch(id: string): void {
    this.dirty.add(id);
    this.timer ??= setTimeout(() => this.flush(), BATCH_MS);
  }

  /** Sends the pending batch now (also used at shutdown). */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const updates: RunSnapshot[] = [];
    for (const id of this.dirty) {
      const run = this.runs.get(id);
      if (!run) continue;
      updates.push({ ...run.snapshot, steps: [...run.snapshot.steps], disks: run.snapshot.disks.map((d) => ({ ...d })), log: run.fresh, warnings: [...run.snapshot.warnings], archives: [...run.snapshot.archives] });
      run.fresh = [];
    }
    this.dirty.clear();
    if (updates.length > 0) this.publish(updates);
  }
}
