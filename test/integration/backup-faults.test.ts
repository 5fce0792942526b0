import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackupCancelledError, BackupFailedError, runBackup, type BackupOptions } from '../../electron/engine/backup/run-backup.js';
import type { SshHostSession } from '../../electron/engine/hosts/host-session.js';
import { SshError } from '../../electron/engine/ssh/errors.js';
import { UncertainOutcomeError, type ExecOptions } from '../../electron/engine/ssh/exec.js';
import { parseStorageSpec, type Storage } from '../../electron/engine/storage/storage.js';
import { startLabHost, type LabHost } from '../lab/lab-host.js';
import type { LabVm } from '../lab/qemu.js';
import { eventLog, expectPristine, findVm, fleeceFiles, labFolder, labSession, MiB, readManifest, snapshotState } from '../support/backup-harness.js';
import { expectLiveWrites, expectPointInTime, seedBeforeBackup, writeDuringCopy } from '../support/backup-scenario.js';

/**
 * Variants and faults of the lifecycle on one VM. Each case must end with the
 * VM in its original state: devices on their nodes, no shear- node or job,
 * no fleecing image, no partial archive, and a guest write that succeeds.
 */
let lab: LabHost;
let host: SshHostSession;
let journalDir: string;
let vm: LabVm;

let emptyDir: string;
let emptyDisk: string;

beforeAll(async () => {
  emptyDir = mkdtempSync(join(tmpdir(), 'shear-empty-'));
  emptyDisk = join(emptyDir, 'empty.raw');
  writeFileSync(emptyDisk, '');
  lab = await startLabHost({
    vms: [
      {
        name: 'db',
        disks: [
          { id: 'vd0', bus: 'virtio', format: 'qcow2', sizeBytes: 32 * MiB },
          { id: 'scsi0', bus: 'scsi', format: 'raw', sizeBytes: 40 * MiB + 512 },
        ],
      },
      // Plus an empty (0-byte) drive, as a placeholder disk gives.
      {
        name: 'doomed',
        disks: [{ id: 'vd0', bus: 'virtio', format: 'qcow2', sizeBytes: 32 * MiB }],
        extraArgs: ['-drive', `file=${emptyDisk},format=raw,if=none,id=drive-empty0`, '-device', 'virtio-blk-pci,drive=drive-empty0,id=empty0'],
      },
      // The destination of a migration that has not come in yet (run state "inmigrate").
      { name: 'arriving', disks: [{ id: 'vd0', bus: 'virtio', format: 'qcow2', sizeBytes: 8 * MiB }], extraArgs: ['-incoming', 'defer'] },
    ],
  });
  host = await labSession(lab);
  journalDir = labFolder(lab, 'journal');
  vm = lab.vm('db');
});

afterAll(async () => {
  host?.close();
  await lab?.stop();
  rmSync(emptyDir, { recursive: true, force: true });
});

let counter = 0;
function options(over: Partial<BackupOptions> & { fleeceDir?: string }): { opts: Omit<BackupOptions, 'vm'>; fleeceDir: string; target: string } {
  const n = ++counter;
  const fleeceDir = over.fleeceDir ?? labFolder(lab, `fleece-${n}`);
  const target = labFolder(lab, `archive-${n}`);
  const { fleeceDir: _ignored, ...rest } = over;
  return {
    fleeceDir,
    target,
    opts: {
      host,
      targetDir: target,
      fleecing: { storage: parseStorageSpec(`dir:${fleeceDir}`), format: 'auto' },
      emit: () => {},
      toolVersion: 'test',
      journalDir,
      pollIntervalMs: 100,
      bwlimit: 24 * MiB,
      ...rest,
    },
  };
}

/** Runs a backup with guest writes during the copy; returns the archive. */
async function backupWithWrites(over: Partial<BackupOptions> & { fleeceDir?: string }, duringRun?: (fleeceDir: string) => void) {
  const { opts, fleeceDir, target } = options(over);
  const { emit, events, firstProgress } = eventLog();
  const run = runBackup({ ...opts, emit, vm: await findVm(host, 'db') });
  await firstProgress;
  duringRun?.(fleeceDir);
  await writeDuringCopy(vm);
  const result = await run;
  return { result, events, fleeceDir, target };
}

const noPartials = (target: string) =>
  existsSync(join(target, 'db')) ? readdirSync(join(target, 'db')).filter((f) => f.endsWith('.partial')) : [];
const journals = () => readdirSync(journalDir).filter((f) => f.endsWith('.json'));

describe('backup variants', () => {
  it('without fleecing: the job alone still keeps the point in time', async () => {
    const before = await snapshotState(vm);
    await seedBeforeBackup(vm);
    const { result } = await backupWithWrites({ fleecing: null });
    expect(readManifest(result.archiveDir).disks.every((d) => !d.fleecing)).toBe(true);
    await expectPointInTime(vm, result.archiveDir);
    await expectPristine(vm, before);
  });

  it('with raw fleecing images in a folder whose path has a space and a quote', async () => {
    const before = await snapshotState(vm);
    await seedBeforeBackup(vm);
    const fleeceDir = join(lab.dir, "fleece dir's");
    mkdirSync(fleeceDir);
    let seen: string[] = [];
    const { result } = await backupWithWrites(
      { fleeceDir, fleecing: { storage: parseStorageSpec(`dir:${fleeceDir}`), format: 'raw' } },
      (dir) => (seen = fleeceFiles(dir)),
    );
    expect(seen).toEqual(['vm-db-fleece-0.raw', 'vm-db-fleece-1.raw']);
    expect(fleeceFiles(fleeceDir)).toEqual([]);
    expect(readManifest(result.archiveDir).disks.every((d) => d.fleecing)).toBe(true);
    await expectPointInTime(vm, result.archiveDir);
    await expectPristine(vm, before);
  });
});

describe('backup faults', () => {
  it('a full fleecing storage fails the backup, never the guest, and leaves nothing', async () => {
    const before = await snapshotState(vm);
    await seedBeforeBackup(vm);
    const tiny = join(lab.dir, 'tiny');
    mkdirSync(tiny);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'shear-test-tiny', tiny]);
    try {
      const { opts, target } = options({ fleeceDir: tiny, bwlimit: 4 * MiB });
      const { emit, events, firstProgress } = eventLog();
      const run = runBackup({ ...opts, emit, vm: await findVm(host, 'db') });
      const outcome = run.then(() => null, (e: unknown) => e);
      await firstProgress;
      await writeDuringCopy(vm); // needs ~16 MiB of old data in a 2 MiB fleecing storage
      const err = await outcome;
      expect(err).toBeInstanceOf(BackupFailedError);
      expect((err as Error).message).toMatch(/backup job failed/);
      expect(events.some((e) => e.type === 'warning' && /fleecing storage .* bytes free/.test(e.message))).toBe(true);
      await expectLiveWrites(vm);
      expect(fleeceFiles(tiny)).toEqual([]);
      expect(noPartials(target)).toEqual([]);
      expect(journals()).toEqual([]);
      await expectPristine(vm, before);
    } finally {
      execFileSync('umount', [tiny]);
    }
  });

  it('cancel mid-job tears down cleanly', async () => {
    const before = await snapshotState(vm);
    await seedBeforeBackup(vm);
    const { opts, fleeceDir, target } = options({ bwlimit: 2 * MiB });
    const controller = new AbortController();
    const { emit, firstProgress } = eventLog();
    const run = runBackup({ ...opts, emit, signal: controller.signal, vm: await findVm(host, 'db') });
    const outcome = run.then(() => null, (e: unknown) => e);
    await firstProgress;
    controller.abort();
    expect(await outcome).toBeInstanceOf(BackupCancelledError);
    expect(fleeceFiles(fleeceDir)).toEqual([]);
    expect(noPartials(target)).toEqual([]);
    expect(readdirSync(join(target, 'db'))).toEqual([]);
    expect(journals()).toEqual([]);
    await expectPristine(vm, before);
  });

  it('a pause the user makes during the copy is theirs: the journal no longer blames Shear, and a cancel leaves the VM paused', async () => {
    const before = await snapshotState(vm);
    expect(before.runState).toBe('running');
    await seedBeforeBackup(vm);
    const { opts, fleeceDir, target } = options({ bwlimit: 2 * MiB });
    const controller = new AbortController();
    const { emit, firstProgress } = eventLog();
    let pausedByShearAfterStart: unknown = 'unread';
    const run = runBackup({
      ...opts,
      emit,
      signal: controller.signal,
      vm: await findVm(host, 'db'),
      afterStep: (name) => {
        // What a crash right after the pause window would leave for `leftovers`.
        if (name === 'start') pausedByShearAfterStart = (JSON.parse(readFileSync(join(journalDir, journals()[0] as string), 'utf8')) as { vmPausedByShear: unknown }).vmPausedByShear;
        return Promise.resolve();
      },
    });
    const outcome = run.then(() => null, (e: unknown) => e);
    await firstProgress;
    await vm.qmp((q) => q.execute('stop'));
    controller.abort();
    expect(await outcome).toBeInstanceOf(BackupCancelledError);
    expect(pausedByShearAfterStart).toBe(false);
    expect(fleeceFiles(fleeceDir)).toEqual([]);
    expect(noPartials(target)).toEqual([]);
    expect(journals()).toEqual([]);
    try {
      await expectPristine(vm, { ...before, runState: 'paused' });
    } finally {
      await vm.qmp((q) => q.execute('cont'));
    }
  });

  it('the connection dying inside the pause window: the guest is resumed over a new session before any teardown', async () => {
    const before = await snapshotState(vm);
    const { opts, fleeceDir, target } = options({});
    const { emit, events } = eventLog();
    const err = await runBackup({
      ...opts,
      emit,
      vm: await findVm(host, 'db'),
      afterStep: async (name) => {
        if (name !== 'filters') return;
        // Every session process of the lab's sshd: the window's QMP session dies with the VM stopped.
        execFileSync('pkill', ['-KILL', '-P', String(lab.sshd.pid)]);
        const deadline = Date.now() + 10_000;
        while (!host.connection.isClosed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        expect((await vm.qmp((q) => q.execute('query-status'))).status).toBe('paused');
      },
    }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(BackupFailedError);
    // Resumed at once in the window's catch, not by the last undo after every filter and node is gone.
    const warnings = events.flatMap((e) => (e.type === 'warning' ? [e.message] : []));
    expect(warnings.filter((w) => /could not resume/.test(w))).toEqual([]);
    expect(fleeceFiles(fleeceDir)).toEqual([]);
    expect(noPartials(target)).toEqual([]);
    expect(journals()).toEqual([]);
    await expectPristine(vm, before);
  });

  it('survives the SSH connection being killed mid-job: reconnects and completes', async () => {
    const before = await snapshotState(vm);
    await seedBeforeBackup(vm);
    const { result, events } = await backupWithWrites({ bwlimit: 8 * MiB }, () => {
      // Every session process of the lab's sshd: the engine's connection dies, sshd itself stays.
      execFileSync('pkill', ['-KILL', '-P', String(lab.sshd.pid)]);
    });
    expect(events.some((e) => e.type === 'log' && /was lost and is restored/.test(e.message))).toBe(true);
    await expectPointInTime(vm, result.archiveDir);
    expect(journals()).toEqual([]);
    await expectPristine(vm, before);
  });

  it('refuses a fleecing image smaller than its disk before any filter goes in', async () => {
    const before = await snapshotState(vm);
    const fleeceDir = labFolder(lab, 'short');
    const real = parseStorageSpec(`dir:${fleeceDir}`);
    // The engine's own Storage interface, wrapped to hand out an image 1 MiB short (a broken storage plugin).
    const short: Storage = { ...real, spec: real.spec, formats: real.formats, pathBased: real.pathBased, thin: real.thin, kind: real.kind,
      imagePath: (n) => real.imagePath(n),
      freeBytes: (h) => real.freeBytes(h),
      free: (h, n) => real.free(h, n),
      list: (h, p) => real.list(h, p),
      allocate: (h, name, size, format) => real.allocate(h, name, size - MiB, format),
    };
    const { opts, target } = options({ fleecing: { storage: short, format: 'qcow2' } });
    const err = await runBackup({ ...opts, vm: await findVm(host, 'db') }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(BackupFailedError);
    expect((err as Error).message).toMatch(/is \d+ bytes but the disk is \d+; refusing to insert the filter/);
    expect(fleeceFiles(fleeceDir)).toEqual([]);
    expect(noPartials(target)).toEqual([]);
    await expectPristine(vm, before);
  });

  it('a command whose answer is lost may still have done its work: the image, lock or archive folder it made is undone', async () => {
    const before = await snapshotState(vm);
    const lost = (what: string) => new SshError('closed', host.label, `connection lost while ${what} ran; its outcome is unknown`, { outcomeUnknown: true });
    // 1. The archive folder is made, its answer lost.
    const lossyHost = new Proxy(host, {
      get(target, prop) {
        if (prop === 'exec') {
          return async (argv: readonly string[], options?: ExecOptions) => {
            const r = await target.exec(argv, options);
            if (argv[3] === 'shear-archive') throw lost('sh');
            return r;
          };
        }
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const first = options({});
    const err1 = await runBackup({ ...first.opts, host: lossyHost, vm: await findVm(host, 'db') }).then(() => null, (e: unknown) => e);
    expect(err1).toBeInstanceOf(BackupFailedError);
    expect(noPartials(first.target)).toEqual([]);
    // 2. A fleecing image and the (stand-in) backup lock are made, their answers lost.
    const second = options({});
    const real = parseStorageSpec(`dir:${second.fleeceDir}`);
    const lossyStorage: Storage = { ...real, spec: real.spec, formats: real.formats, pathBased: real.pathBased, thin: real.thin, kind: real.kind,
      imagePath: (n) => real.imagePath(n),
      freeBytes: (h) => real.freeBytes(h),
      free: (h, n) => real.free(h, n),
      list: (h, p) => real.list(h, p),
      allocate: async (h, name, size, format) => {
        await real.allocate(h, name, size, format);
        throw lost('qemu-img');
      },
    };
    let released = 0;
    const err2 = await runBackup({
      ...second.opts,
      fleecing: { storage: lossyStorage, format: 'qcow2' },
      vm: await findVm(host, 'db'),
      platform: {
        lock: () => Promise.reject(new UncertainOutcomeError('the backup lock may or may not be taken', async () => void released++, { cause: lost('qm') })),
      },
    }).then(() => null, (e: unknown) => e);
    expect(err2).toBeInstanceOf(BackupFailedError);
    expect(released).toBe(1);
    const third = options({});
    const err3 = await runBackup({ ...third.opts, fleecing: { storage: lossyStorage, format: 'qcow2' }, vm: await findVm(host, 'db') }).then(() => null, (e: unknown) => e);
    expect((err3 as Error).message).toMatch(/outcome is unknown/);
    expect(fleeceFiles(second.fleeceDir)).toEqual([]);
    expect(noPartials(third.target)).toEqual([]);
    expect(journals()).toEqual([]);
    await expectPristine(vm, before);
  });

  it('refuses a host without python3 (needed for the checksums) before anything is created', async () => {
    const before = await snapshotState(vm);
    // The host as one without python3: the command is not found there (exit 127), as on a minimal install.
    const noPython = new Proxy(host, {
      get(target, prop) {
        if (prop === 'exec') return (argv: readonly string[], options?: ExecOptions) => target.exec(argv.map((a) => a.replace(/\bpython3\b/g, 'shear-test-no-python3')), options);
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const { opts, fleeceDir, target } = options({});
    const { emit, events } = eventLog();
    const err = await runBackup({ ...opts, host: noPython, emit, vm: await findVm(host, 'db') }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(BackupFailedError);
    expect((err as Error).message).toMatch(/backups need python3 on the host .*apt install python3\)$/);
    expect(events.filter((e) => e.type === 'step' && e.state === 'failed').map((e) => (e as { step: string }).step)).toEqual(['preflight']);
    expect(fleeceFiles(fleeceDir)).toEqual([]);
    expect(existsSync(join(target, 'db'))).toBe(false);
    expect(journals()).toEqual([]);
    await expectPristine(vm, before);
  });

  it('refuses a VM waiting for an incoming migration, naming its run state, and changes nothing', async () => {
    const arriving = lab.vm('arriving');
    const before = await snapshotState(arriving);
    expect(before.runState).toBe('inmigrate');
    const { opts, fleeceDir, target } = options({});
    const err = await runBackup({ ...opts, vm: await findVm(host, 'arriving') }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(BackupFailedError);
    expect((err as Error).message).toMatch(/VM arriving is waiting for an incoming migration.*"inmigrate"/);
    expect(fleeceFiles(fleeceDir)).toEqual([]);
    expect(existsSync(join(target, 'arriving'))).toBe(false);
    expect(journals()).toEqual([]);
    expect(await snapshotState(arriving)).toEqual(before);
  });

  it('leaves out an empty drive with a warning and backs up the rest', async () => {
    const { opts } = options({});
    const { emit, events } = eventLog();
    const result = await runBackup({ ...opts, emit, vm: await findVm(host, 'doomed') });
    expect(result.manifest.disks.map((d) => d.device)).toEqual(['vd0']);
    const warnings = events.flatMap((e) => (e.type === 'warning' ? [e.message] : []));
    expect(warnings.filter((w) => /not backed up/.test(w))).toEqual([expect.stringMatching(/^empty0 is not backed up: empty \(0 bytes\)/)]);
  });

  it('QEMU killed mid-job: a clear failure, and the journal stays for leftovers', async () => {
    const doomed = lab.vm('doomed');
    await seedBeforeBackup(doomed);
    const { opts, fleeceDir } = options({ bwlimit: 2 * MiB });
    const { emit, firstProgress } = eventLog();
    const run = runBackup({ ...opts, emit, vm: await findVm(host, 'doomed') });
    const outcome = run.then(() => null, (e: unknown) => e);
    await firstProgress;
    process.kill(doomed.pid, 'SIGKILL');
    const err = await outcome;
    expect(err).toBeInstanceOf(BackupFailedError);
    expect((err as Error).message).toMatch(/QEMU ended during the backup/);
    expect((err as BackupFailedError).cleanupFailures.length).toBeGreaterThan(0);
    // The images are freed (that needs no QEMU); the journal names what could not be cleaned.
    expect(fleeceFiles(fleeceDir)).toEqual([]);
    expect(journals()).toHaveLength(1);
  });
});
