import type { HostSession } from '../hosts/host-session.js';
import { withQmp } from '../qmp/session.js';
import { SshError } from '../ssh/errors.js';
import { BackupCancelledError } from './errors.js';
import { queryJobs } from './graph.js';
import { latencyUs, sampleWriteCounters, type DiskRef, type WriteCounters } from './write-latency.js';

export interface MonitorOptions {
  host: HostSession;
  socket: string;
  jobs: Array<{ jobId: string; disk: string }>;
  intervalMs: number;
  signal?: AbortSignal;
  onProgress: (disk: string, done: number, total: number) => void;
  log: (level: 'debug' | 'info' | 'warn' | 'error', message: string, disk?: string) => void;
  /** Consecutive failed polls (connection up) before giving up. */
  maxFailures?: number;
  /** No job moved for this long: the target stopped accepting writes, and the run fails (default 10 min). */
  stallTimeoutMs?: number;
  /** Sample the guest's write latency per disk on every poll (same QMP session). */
  latency?: { disks: DiskRef[]; baseline: Map<string, WriteCounters>; onLatency: (disk: string, nowUs: number, beforeUs: number | null) => void };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * How long a poll waits for QEMU. The monitor answers at once (its I/O thread), but commands of
 * every monitor run one at a time in QEMU's main loop: while another client's command waits for
 * I/O (an HMP `qemu-io` in the lab; a `query-block` that stats a file on a slow NFS share, or the
 * host's own tools, in the field), `qmp_capabilities` and `query-jobs` wait behind it. That is a
 * busy QEMU, not a lost one: ten seconds were not enough with a slow target.
 */
export const POLL_REPLY_TIMEOUT_MS = 60_000;
export const DEFAULT_STALL_TIMEOUT_MS = 10 * 60_000;

export class TargetStalledError extends Error {
  constructor(seconds: number) {
    super(`no backup job made progress for ${seconds} s: the target stopped accepting writes (a NAS or share that no longer answers?)`);
    this.name = 'TargetStalledError';
  }
}

/** The QMP socket vanished: QEMU is gone, and so are its jobs. */
function qemuGone(err: unknown): boolean {
  return err instanceof SshError && err.kind === 'unreachable' && /no unix socket|nothing is listening/.test(err.message);
}

/**
 * Polls `query-jobs` with a fresh short QMP session each time (events sent
 * while no client is connected are lost, so we never rely on them) until every
 * job concluded. A lost SSH connection is not a failure: QEMU keeps copying, and
 * the next poll reconnects. Resolves when all jobs succeeded; throws otherwise.
 */
export async function monitorJobs(o: MonitorOptions): Promise<void> {
  const maxFailures = o.maxFailures ?? 20;
  const stallTimeoutMs = o.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
  let failures = 0;
  let movedAt = Date.now();
  const lastReported = new Map<string, number>();
  let previous: Map<string, WriteCounters> | null = null;
  for (;;) {
    if (o.signal?.aborted) throw new BackupCancelledError();
    let jobs;
    let counters: Map<string, WriteCounters> | null = null;
    try {
      const wait = { timeoutMs: POLL_REPLY_TIMEOUT_MS };
      ({ jobs, counters } = await withQmp(o.host.qmp, o.socket, async (q) => ({
        jobs: await queryJobs(q, wait),
        counters: o.latency ? await sampleWriteCounters(q, o.latency.disks, wait) : null,
      }), { greetingTimeoutMs: POLL_REPLY_TIMEOUT_MS, capabilitiesTimeoutMs: POLL_REPLY_TIMEOUT_MS }));
      failures = 0;
    } catch (err) {
      if (qemuGone(err)) throw new Error(`QEMU ended during the backup (its monitor ${o.socket} is gone); the jobs ended with it`);
      failures++;
      o.log('warn', `polling the backup jobs failed (${failures}/${maxFailures}): ${(err as Error).message}`);
      if (failures >= maxFailures) throw err;
      await sleep(Math.min(o.intervalMs * failures, 5_000));
      continue;
    }
    if (o.latency && counters) {
      for (const disk of o.latency.disks) {
        const now = previous ? latencyUs(previous.get(disk.device), counters.get(disk.device)) : null;
        if (now !== null) o.latency.onLatency(disk.device, now, latencyUs(undefined, o.latency.baseline.get(disk.device)));
      }
      previous = counters;
    }
    let allDone = true;
    const errors: string[] = [];
    for (const { jobId, disk } of o.jobs) {
      const job = jobs.find((j) => j.id === jobId);
      if (!job) {
        errors.push(`${disk}: job ${jobId} disappeared from QEMU`);
        continue;
      }
      if (lastReported.get(jobId) !== job['current-progress']) {
        lastReported.set(jobId, job['current-progress']);
        movedAt = Date.now();
        o.onProgress(disk, job['current-progress'], job['total-progress']);
      }
      if (job.status !== 'concluded') allDone = false;
      else if (job.error) errors.push(`${disk}: ${job.error}`);
    }
    // The first failed job fails the run: copying the other disks for hours would be for nothing.
    if (errors.length > 0) {
      throw new Error(`backup job failed: ${errors.join('; ')}`);
    }
    if (allDone) return;
    if (Date.now() - movedAt > stallTimeoutMs) throw new TargetStalledError(Math.round((Date.now() - movedAt) / 1000));
    await sleep(o.intervalMs);
  }
}
