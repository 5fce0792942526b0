import { guestFlush, guestRead, guestWrite } from '../../test/lab/guest-io.js';
import { startLabHost } from '../../test/lab/lab-host.js';
import { mountSlowFolder } from '../../test/lab/slow-folder.js';
import { copyStepMs, timeGuestWrites, writesOnProgress, type TimedWrite, type WriteTime } from '../../test/lab/write-timing.js';
import { labCli, runShear } from '../../test/support/cli-runner.js';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { median, ratio, round, spread, type Spread } from '../stats.js';

/**
 * Case 1: what a guest write into a not-yet-copied area costs while the backup target is
 * really slow. The target folder is a FUSE passthrough letting TARGET_BPS through (the lab's
 * slowfs: the writing thread waits in the kernel, as with a NAS over NFS/SMB, sshfs or a USB
 * disk); the VM's disk and the fleecing folder are on fast storage. Each backup is a real
 * `shear backup` process; guest writes go through the guest's device on a second monitor, a
 * few per progress report of the CLI, so they spread over the copy. The cases take turns, ROUNDS
 * times, so a swing of the machine hits them all alike.
 */
const MiB = 1024 * 1024;
const DISK = 128 * MiB;
const TARGET_BPS = 4 * MiB;
const ROUNDS = 2;
// 64 a round, 4 per progress report: 128 a case, so a p99 is not just the slowest write.
const WRITES_PER_ROUND = 64;
const WRITES_PER_REPORT = 4;
const SIZES = [64 * 1024, MiB] as const;

export type ImpactCase = 'noBackup' | 'noFleecing' | 'fleecingQcow2' | 'fleecingRaw';
const CASES: ImpactCase[] = ['noBackup', 'noFleecing', 'fleecingQcow2', 'fleecingRaw'];
const sizeName = (size: number) => (size === MiB ? '1MiB' : `${size / 1024}KiB`);

export interface GuestImpact {
  cases: Record<ImpactCase, Spread & { bySize: Record<string, Spread> }>;
  ratios: Record<ImpactCase, { p50: number; p99: number; p99BySize: Record<string, number> }>;
  /** Archive bytes per second of the copy step over the target's speed (median of the runs). */
  copySpeedRatio: Record<Exclude<ImpactCase, 'noBackup'>, number>;
  targetBytesPerSecond: number;
  samplesPerCase: number;
}

/** Writes in the upper half (the job copies from 0 up), sizes alternating, 1 MiB apart. */
function plan(pattern: number): TimedWrite[] {
  return Array.from({ length: WRITES_PER_ROUND }, (_, i) => ({ disk: 'gi', offset: DISK - (WRITES_PER_ROUND - i) * MiB, length: SIZES[i % 2] as number, pattern }));
}

export async function benchGuestImpact(log: (m: string) => void): Promise<GuestImpact> {
  const lab = await startLabHost({ vms: [{ name: 'impact', probeMonitor: true, disks: [{ id: 'gi', bus: 'virtio', format: 'qcow2', sizeBytes: DISK }] }], dirPrefix: 'shear-bench-' });
  const slow = await mountSlowFolder(lab.dir, 'nas', { bytesPerSecond: TARGET_BPS }).catch(async (err: unknown) => {
    await lab.stop();
    throw err;
  });
  try {
    const vm = lab.vm('impact');
    const { home, hostArgs } = labCli(lab);
    const fleece = join(lab.dir, 'fleece');
    mkdirSync(fleece);
    const samples = Object.fromEntries(CASES.map((c) => [c, [] as WriteTime[]])) as Record<ImpactCase, WriteTime[]>;
    const speeds = { noFleecing: [] as number[], fleecingQcow2: [] as number[], fleecingRaw: [] as number[] };
    for (let round = 0; round < ROUNDS; round++) {
      for (const [n, name] of CASES.entries()) {
        // Every case starts from a disk full of data, so each copy has real bytes to move.
        await guestWrite(vm, 'gi', { offset: 0, length: DISK, pattern: 0x10 + n });
        const pattern = 0x60 + n;
        // Written back before the clock starts, as during a backup run's own start-up.
        await guestFlush(vm, 'gi');
        if (name === 'noBackup') {
          // At the pace of the CLI's progress reports, as in the backup cases.
          const writes = plan(pattern);
          while (writes.length > 0) {
            samples[name].push(...(await timeGuestWrites(vm, writes.splice(0, WRITES_PER_REPORT))));
            await new Promise((r) => setTimeout(r, 500));
          }
        } else {
          const writes = writesOnProgress(vm, plan(pattern), WRITES_PER_REPORT);
          let copyMs = 0;
          const args = ['backup', ...hostArgs(), '--vm', 'impact', '--target', `dir:${slow.path}`, '--json',
            ...(name === 'noFleecing' ? ['--no-fleecing'] : ['--fleecing-storage', `dir:${fleece}`, '--fleecing-format', name === 'fleecingRaw' ? 'raw' : 'qcow2'])];
          const run = await runShear(args, {
            env: { HOME: home },
            onStdoutLine: (line) => {
              writes.onLine(line);
              copyMs = copyStepMs(line) ?? copyMs;
            },
          });
          samples[name].push(...(await writes.finish()));
          if (run.code !== 0) throw new Error(`guest impact ${name}: shear backup exited ${run.code}: ${run.stdout.slice(-1500)}${run.stderr.slice(-500)}`);
          if (writes.left() > 0) throw new Error(`guest impact ${name}: the copy ended before ${writes.left()} of the writes were made`);
          speeds[name].push(DISK / (copyMs / 1000) / TARGET_BPS);
        }
        // The writes really landed (timing a refused write would prove nothing).
        await guestRead(vm, 'gi', { offset: DISK - MiB, length: MiB, pattern });
        const s = spread(samples[name].map((x) => x.ms));
        log(`guest impact ${name} (round ${round + 1}/${ROUNDS}): p50 ${s.p50Ms} ms, p99 ${s.p99Ms} ms`);
      }
    }
    const result = {} as GuestImpact['cases'];
    for (const name of CASES) {
      const bySize: Record<string, Spread> = {};
      for (const size of SIZES) bySize[sizeName(size)] = spread(samples[name].filter((x) => x.length === size).map((x) => x.ms));
      result[name] = { ...spread(samples[name].map((x) => x.ms)), bySize };
    }
    const ratios = {} as GuestImpact['ratios'];
    for (const name of CASES) {
      const base = result.noBackup;
      const p99BySize = Object.fromEntries(SIZES.map((size) => [sizeName(size), ratio(result[name].bySize[sizeName(size)]?.p99Ms ?? 0, base.bySize[sizeName(size)]?.p99Ms ?? 1)]));
      ratios[name] = { p50: ratio(result[name].p50Ms, base.p50Ms), p99: ratio(result[name].p99Ms, base.p99Ms), p99BySize };
    }
    const copySpeedRatio = {
      noFleecing: round(median(speeds.noFleecing), 3),
      fleecingQcow2: round(median(speeds.fleecingQcow2), 3),
      fleecingRaw: round(median(speeds.fleecingRaw), 3),
    };
    return { cases: result, ratios, copySpeedRatio, targetBytesPerSecond: TARGET_BPS, samplesPerCase: ROUNDS * WRITES_PER_ROUND };
  } finally {
    await slow.stop().catch(() => undefined);
    await lab.stop();
  }
}
