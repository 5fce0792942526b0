import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { percentile } from '../../bench/stats.js';
import { guestRead, guestWrite } from '../lab/guest-io.js';
import { startLabHost, type LabHost } from '../lab/lab-host.js';
import { mountSlowFolder, type SlowFolder } from '../lab/slow-folder.js';
import { copyStepMs, timeGuestWrites, writesOnProgress, type TimedWrite, type WriteTime } from '../lab/write-timing.js';
import { expectPristine, fleeceFiles, labFolder, MiB, readManifest, snapshotState } from '../support/backup-harness.js';
import { labCli, runShear, type CliRun } from '../support/cli-runner.js';

/**
 * Fleecing's promise with a really slow target: the archive folder is a FUSE mount that lets
 * RATE bytes per second through (as an NFS/SMB share on a small NAS, sshfs or a USB disk
 * does: the writing thread waits in the kernel), while the VM's disks and the fleecing images
 * are on fast storage. Guest writes into areas the job has not copied yet must take about as
 * long as without a backup, for a -blockdev virtio disk and a Proxmox-style -drive SCSI disk,
 * with qcow2 and with raw fleecing images, through the real CLI.
 *
 * At RATE a 1 MiB target write holds its writer for 250 ms: a guest write that queued behind
 * one of the job's target writes (QEMU's thread pool, see electron/engine/backup/target-io.ts)
 * takes at least that long, so the bound below tells the two apart with room for a busy machine.
 */
const RATE = 4 * MiB;
const DISK = 48 * MiB;
const SLOW_MS = 200;

let lab: LabHost;
let slow: SlowFolder;
let home: string;
let hostArgs: () => string[];

beforeAll(async () => {
  lab = await startLabHost({
    vms: [{
      name: 'nas',
      probeMonitor: true,
      disks: [
        { id: 'vd0', bus: 'virtio', format: 'qcow2', sizeBytes: DISK },
        { id: 'scsi0', bus: 'scsi', format: 'raw', sizeBytes: DISK },
      ],
    }],
  });
  slow = await mountSlowFolder(lab.dir, 'nas-share', { bytesPerSecond: RATE });
  ({ home, hostArgs } = labCli(lab));
  // Data everywhere: the job skips what was never written, and then the target would not matter.
  for (const disk of ['vd0', 'scsi0']) await guestWrite(lab.vm('nas'), disk, { offset: 0, length: DISK, pattern: 0x30 });
});
afterAll(async () => {
  // The mount first: the lab's teardown removes the folder it sits in.
  await slow?.stop();
  await lab?.stop();
});

const shear = (args: string[], onLine?: (line: Record<string, unknown>) => void): Promise<CliRun> =>
  runShear(args, { env: { HOME: home }, ...(onLine ? { onStdoutLine: (l) => onLine(l) } : {}) });

/** 64 KiB and 1 MiB writes alternating over both disks, in the upper half (the job copies from 0 up). */
function writePlan(pattern: number): TimedWrite[] {
  const out: TimedWrite[] = [];
  for (let i = 0; i < 8; i++) {
    for (const disk of ['vd0', 'scsi0']) out.push({ disk, offset: DISK / 2 + i * MiB, length: i % 2 === 0 ? 64 * 1024 : MiB, pattern });
  }
  return out;
}

const worst = (times: WriteTime[]) => percentile(times.map((t) => t.ms), 100);
const describeTimes = (times: WriteTime[]) => times.map((t) => `${t.disk}@${t.offset / MiB}M/${t.length / 1024}K ${t.ms.toFixed(1)} ms`).join(', ');

/**
 * Copies all the disks through the CLI and times guest writes while the jobs run: one write per
 * progress report (Shear polls every 500 ms), so they spread over the copy instead of landing
 * in its first moment.
 */
async function backupWhileWriting(format: 'qcow2' | 'raw', pattern: number): Promise<{ run: CliRun; times: WriteTime[]; copyMs: number }> {
  const fleece = labFolder(lab, `fleece-${format}`);
  const writes = writesOnProgress(lab.vm('nas'), writePlan(pattern));
  let copyMs = 0;
  const run = await shear(
    ['backup', ...hostArgs(), '--vm', 'nas', '--target', `dir:${slow.path}`, '--fleecing-storage', `dir:${fleece}`, '--fleecing-format', format, '--json'],
    (line) => {
      writes.onLine(line);
      copyMs = copyStepMs(line) ?? copyMs;
    },
  );
  const times = await writes.finish();
  expect(writes.left(), 'the copy ended before every guest write was made').toBe(0);
  expect(fleeceFiles(fleece)).toEqual([]);
  return { run, times, copyMs };
}

describe('a really slow backup target', () => {
  let baseline: WriteTime[];

  it('measures the guest writes without a backup first', async () => {
    baseline = await timeGuestWrites(lab.vm('nas'), writePlan(0x41));
    expect(baseline).toHaveLength(16);
  });

  for (const [format, pattern] of [['qcow2', 0x52], ['raw', 0x63]] as const) {
    it(`keeps guest writes at their usual speed with ${format} fleecing, and copies at the target's speed`, async () => {
      const vm = lab.vm('nas');
      const before = await snapshotState(vm);
      const { run, times, copyMs } = await backupWhileWriting(format, pattern);
      expect(run.code, run.stdout.slice(-2000)).toBe(0);
      const result = run.lines.at(-1);
      expect(result).toMatchObject({ type: 'result', ok: true });
      expect(readManifest(String(result?.archive)).disks.map((d) => d.device).sort()).toEqual(['scsi0', 'vd0']);

      const bound = Math.max(SLOW_MS, 2 * worst(baseline));
      expect(worst(times), `guest writes during the backup: ${describeTimes(times)}; without a backup: ${describeTimes(baseline)}`).toBeLessThan(bound);
      // The writes really landed (a refused write would have taken no time).
      for (const disk of ['vd0', 'scsi0']) await guestRead(vm, disk, { offset: DISK / 2 + 7 * MiB, length: MiB, pattern });

      // Isolating the guest must not slow the copy: the target's speed stays the limit (≥ 50 % of it here, with room for a busy machine).
      expect(copyMs).toBeGreaterThan(0);
      expect((2 * DISK) / (copyMs / 1000), `copied ${2 * DISK} bytes in ${copyMs} ms`).toBeGreaterThan(0.5 * RATE);
      await expectPristine(vm, before);
    }, 180_000);
  }
});
