import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackupFailedError, runBackup } from '../../electron/engine/backup/run-backup.js';
import type { SshHostSession } from '../../electron/engine/hosts/host-session.js';
import { cleanupLeftovers } from '../../electron/engine/leftovers/cleanup.js';
import { scanLeftovers } from '../../electron/engine/leftovers/scan.js';
import { parseStorageSpec } from '../../electron/engine/storage/storage.js';
import { percentile } from '../../bench/stats.js';
import { guestRead, guestWrite } from '../lab/guest-io.js';
import { startLabHost, type LabHost } from '../lab/lab-host.js';
import { startVm, type LabVm } from '../lab/qemu.js';
import { MissingToolError, pathExists } from '../lab/tools.js';
import { mountSlowFolder, type SlowFolder } from '../lab/slow-folder.js';
import { copyStepMs, timeGuestWrites, writesOnProgress, type TimedWrite, type WriteTime } from '../lab/write-timing.js';
import { eventLog, expectPristine, findVm, fleeceFiles, labFolder, labSession, MiB, readManifest, snapshotState } from '../support/backup-harness.js';
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

describe('a target that stops answering or fails', () => {
  let host: SshHostSession;
  let journalDir: string;
  beforeAll(async () => {
    host = await labSession(lab);
    journalDir = labFolder(lab, 'journal');
  });
  afterAll(async () => {
    host?.close();
    await slow?.set({ mode: 'normal', bytesPerSecond: RATE });
  });

  /** A guest write through the probe monitor that must finish well before a stuck target would let it. */
  const guestStillFast = async (pattern: number) => {
    const [t] = await timeGuestWrites(lab.vm('nas'), [{ disk: 'vd0', offset: 2 * MiB, length: 64 * 1024, pattern }]);
    expect(t?.ms, 'a guest write while the target is stuck').toBeLessThan(Math.max(SLOW_MS, 2 * worst(baseline)));
  };
  let baseline: WriteTime[];

  /** A backup through the engine to the slow folder, started and past its first progress report. */
  const startBackup = async (fleeceDir: string, o: { stallTimeoutMs?: number; jobEndTimeoutMs?: number } = {}) => {
    const log = eventLog();
    const run = runBackup({
      host, vm: await findVm(host, 'nas'), targetDir: slow.path,
      fleecing: { storage: parseStorageSpec(`dir:${fleeceDir}`), format: 'auto' },
      emit: log.emit, toolVersion: 'test', journalDir, pollIntervalMs: 200, ...o,
    });
    const outcome = run.then(() => null, (e: unknown) => e);
    await Promise.race([log.firstProgress, outcome]);
    return { outcome, events: log.events };
  };
  /** No fleecing image, unfinished archive or journal is left. */
  const expectNoTraces = (fleeceDir: string) => {
    expect(fleeceFiles(fleeceDir)).toEqual([]);
    expect(readdirSync(join(slow.path, 'nas')).filter((f) => f.endsWith('.partial'))).toEqual([]);
    expect(readdirSync(journalDir).filter((f) => f.endsWith('.json'))).toEqual([]);
  };

  it('fails the backup when the target stalls, and the guest never waits for it', async () => {
    baseline = await timeGuestWrites(lab.vm('nas'), writePlan(0x71).slice(0, 4));
    const vm = lab.vm('nas');
    const before = await snapshotState(vm);
    const fleeceDir = labFolder(lab, 'fleece-stall');
    // Shortened from 10 min and 60 s: the test is about what happens, not when.
    const { outcome, events } = await startBackup(fleeceDir, { stallTimeoutMs: 3_000, jobEndTimeoutMs: 2_000 });
    await slow.set({ mode: 'stall' });
    const err = await outcome;
    expect(err).toBeInstanceOf(BackupFailedError);
    expect((err as Error).message).toMatch(/no backup job made progress for \d+ s: the target stopped accepting writes/);
    // The jobs cannot end while their writes hang: their disks stay on the copy-before-write
    // filter (moving them would drain the jobs and hang QEMU's main loop), and the guest goes on.
    const warnings = events.filter((e) => e.type === 'warning').map((e) => (e as { message: string }).message);
    expect(warnings.some((w) => /has not ended .* stays as it is/.test(w)), warnings.join('\n')).toBe(true);
    expect(warnings.some((w) => /unfinished archive .* stays until its jobs end/.test(w)), warnings.join('\n')).toBe(true);
    await guestStillFast(0x72);
    expect((await vm.qmp((q) => q.execute('query-status'))).status).toBe('running');

    // Cleanup while the target is still stuck: the same rule, nothing that would drain the jobs.
    const scope = { journalDir, storages: [parseStorageSpec(`dir:${fleeceDir}`)] };
    const orphaned = async () => (await scanLeftovers(host, scope)).items.filter((i) => i.class === 'orphaned').map((i) => i.id);
    const early = await cleanupLeftovers(host, { ...scope, ids: await orphaned(), jobEndTimeoutMs: 2_000 });
    expect(early.failed.filter((f) => f.id.startsWith('filter:')).map((f) => f.error)).toEqual([
      expect.stringMatching(/has not ended/), expect.stringMatching(/has not ended/),
    ]);
    expect(early.skipped.some((r) => r.id.startsWith('partial-archive:') && /has not ended/.test(r.reason))).toBe(true);
    await guestStillFast(0x75);

    // The target answers again: the jobs end by themselves, and cleanup removes every trace.
    await slow.set({ mode: 'normal', bytesPerSecond: 0 });
    await vm.qmp(async (q) => {
      for (;;) {
        const jobs = (await q.execute('query-jobs')).filter((j) => j.id.startsWith('shear-'));
        if (jobs.every((j) => j.status === 'concluded')) return;
        await new Promise((r) => setTimeout(r, 100));
      }
    });
    const report = await cleanupLeftovers(host, { ...scope, ids: await orphaned() });
    expect(report.failed).toEqual([]);
    expectNoTraces(fleeceDir);
    await expectPristine(vm, before);
  }, 120_000);

  it('fails the backup cleanly when the target fails writes (EIO), the guest untouched', async () => {
    await slow.set({ mode: 'normal', bytesPerSecond: RATE });
    const vm = lab.vm('nas');
    const before = await snapshotState(vm);
    const fleeceDir = labFolder(lab, 'fleece-eio');
    const { outcome } = await startBackup(fleeceDir);
    await slow.set({ mode: 'eio' });
    await guestStillFast(0x73);
    const err = await outcome;
    expect(err).toBeInstanceOf(BackupFailedError);
    expect((err as Error).message).toMatch(/backup job failed: .*(Input\/output error|I\/O error)/i);
    expect((err as BackupFailedError).cleanupFailures).toEqual([]);
    await slow.set({ mode: 'normal' });
    expectNoTraces(fleeceDir);
    await expectPristine(vm, before);
  }, 120_000);

  it("keeps monitoring the jobs while QEMU's main loop is busy for longer than a monitor command usually takes", async () => {
    await slow.set({ mode: 'normal', bytesPerSecond: RATE });
    const vm = lab.vm('nas');
    const warnings: string[] = [];
    let blocked: Promise<WriteTime[]> | null = null;
    const run = await shear(
      ['backup', ...hostArgs(), '--vm', 'nas', '--target', `dir:${slow.path}`, '--no-fleecing', '--json'],
      (line) => {
        if (line.type === 'log' && line.level === 'warn') warnings.push(String(line.message));
        if (line.type !== 'progress' || blocked) return;
        // Without fleecing a guest write into an area not copied yet waits for the target; the
        // lab's write waits inside QEMU's main loop, where every monitor command runs, so
        // Shear's polls wait behind it for as long as the target is stuck.
        blocked = (async () => {
          await slow.set({ mode: 'stall' });
          const write = timeGuestWrites(vm, [{ disk: 'scsi0', offset: DISK - MiB, length: 64 * 1024, pattern: 0x74 }]);
          const t0 = Date.now();
          // Longer than the 10 s Shear used to give a poll.
          while (Date.now() - t0 < 15_000) await new Promise((r) => setTimeout(r, 250));
          await slow.set({ mode: 'normal', bytesPerSecond: 0 });
          return write;
        })();
      },
    );
    const [write] = await (blocked as unknown as Promise<WriteTime[]>);
    expect(write?.ms, 'the guest write that held the main loop').toBeGreaterThan(10_000);
    expect(run.code, run.stdout.slice(-2000)).toBe(0);
    expect(warnings.filter((w) => /polling the backup jobs failed/.test(w))).toEqual([]);
    await slow.set({ bytesPerSecond: RATE });
  }, 180_000);
});

describe('a host whose kernel refuses io_uring', () => {
  const SYSCTL = '/proc/sys/kernel/io_uring_disabled';

  it('writes the archive through the thread pool with a bounded job, and says so', async () => {
    if (!(await pathExists(SYSCTL))) throw new MissingToolError(`lab: ${SYSCTL} is missing: this test needs Linux 6.6 or later to turn io_uring off`);
    // A VM started while io_uring is off (2: io_uring_setup fails for everyone, as on hosts that
    // disable it): QEMU sets up its rings once per I/O context and keeps them (10.0 at start-up).
    const before = readFileSync(SYSCTL, 'utf8').trim();
    writeFileSync(SYSCTL, '2');
    let vm: LabVm | null = null;
    try {
      vm = await startVm({ name: 'nouring', disks: [{ id: 'vd0', bus: 'virtio', format: 'qcow2', sizeBytes: 8 * MiB }] }, { parentDir: lab.dir });
      await guestWrite(vm, 'vd0', { offset: 0, length: 8 * MiB, pattern: 0x35 });
      const fleece = labFolder(lab, 'fleece-nouring');
      const target = labFolder(lab, 'target-nouring');
      const run = await shear(['backup', ...hostArgs(), '--vm', 'nouring', '--target', `dir:${target}`, '--fleecing-storage', `dir:${fleece}`, '--json']);
      expect(run.code, run.stdout.slice(-2000)).toBe(0);
      const messages = run.lines.filter((l) => l.type === 'log').map((l) => String(l.message));
      // Read from the host: QEMU 9 and later would fall back to the thread pool without a word.
      expect(messages.some((m) => /thread pool \(io_uring is disabled on this host .*\); each job keeps at most 2 writes in flight/.test(m)), messages.join('\n')).toBe(true);
      expect(readManifest(String(run.lines.at(-1)?.archive)).disks.map((d) => d.device)).toEqual(['vd0']);
      expect(fleeceFiles(fleece)).toEqual([]);
    } finally {
      writeFileSync(SYSCTL, before);
      await vm?.stop();
    }
  }, 120_000);
});
