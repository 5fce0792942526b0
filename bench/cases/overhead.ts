import { DirStorage } from '../../electron/engine/storage/dir.js';
import { startBenchLab, timedBackup, type TimedRun } from '../lab.js';
import { median, percentile, round } from '../stats.js';

/**
 * Case 3: what Shear itself costs around the copy, over SSH on loopback: start →
 * every job running, jobs done → teardown finished, the pause for the consistent
 * point, and how many SSH channels and QMP sessions one run opens. Small disks,
 * so the copy itself is negligible.
 */
const MiB = 1024 * 1024;
const RUNS = 7;

export interface Overhead {
  setupMs: { disks1: number; disks8: number };
  teardownMs: { disks1: number; disks8: number };
  pauseMs: { disks1: number; disks8: number; p99: number };
  sshChannels: { disks1: number; disks8: number };
  qmpSessions: { disks1: number; disks8: number };
  runs: number;
}

export async function benchOverhead(log: (m: string) => void): Promise<Overhead> {
  const b = await startBenchLab([
    { name: 'one', disks: [{ id: 'vd0', bus: 'virtio', sizeBytes: 8 * MiB }] },
    { name: 'eight', disks: Array.from({ length: 8 }, (_, i) => ({ id: `vd${i}`, bus: 'virtio' as const, sizeBytes: 8 * MiB })) },
  ]);
  try {
    const storage = new DirStorage(b.folder('fleece'));
    const runs: Record<'one' | 'eight', TimedRun[]> = { one: [], eight: [] };
    // Interleaved, so a noisy moment on the shared machine hits both alike; the first run of each warms caches.
    for (let i = 0; i <= RUNS; i++) {
      for (const vm of ['one', 'eight'] as const) {
        const r = await timedBackup(b, vm, { targetDir: b.folder('target'), fleecing: { storage, format: 'qcow2' }, pollIntervalMs: 50 });
        if (i > 0) runs[vm].push(r);
      }
    }
    const m = (vm: 'one' | 'eight', pick: (r: TimedRun) => number) => round(median(runs[vm].map(pick)), 1);
    const out: Overhead = {
      setupMs: { disks1: m('one', (r) => r.setupMs), disks8: m('eight', (r) => r.setupMs) },
      teardownMs: { disks1: m('one', (r) => r.teardownMs), disks8: m('eight', (r) => r.teardownMs) },
      pauseMs: { disks1: m('one', (r) => r.pauseMs), disks8: m('eight', (r) => r.pauseMs), p99: percentile([...runs.one, ...runs.eight].map((r) => r.pauseMs), 99) },
      sshChannels: { disks1: m('one', (r) => r.sshChannels), disks8: m('eight', (r) => r.sshChannels) },
      qmpSessions: { disks1: m('one', (r) => r.qmpSessions), disks8: m('eight', (r) => r.qmpSessions) },
      runs: RUNS,
    };
    log(`overhead: setup ${out.setupMs.disks1} / ${out.setupMs.disks8} ms, teardown ${out.teardownMs.disks1} / ${out.teardownMs.disks8} ms, pause ${out.pauseMs.disks1} / ${out.pauseMs.disks8} ms`);
    return out;
  } finally {
    await b.stop();
  }
}
