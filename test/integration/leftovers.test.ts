import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupLeftovers } from '../../electron/engine/leftovers/cleanup.js';
import { QmpClient } from '../../electron/engine/qmp/client.js';
import { scanLeftovers } from '../../electron/engine/leftovers/scan.js';
import { parseStorageSpec } from '../../electron/engine/storage/storage.js';
import { startLabHost, type LabHost } from '../lab/lab-host.js';
import { expectPristine, fleeceFiles, labFolder, labSession, MiB, snapshotState } from '../support/backup-harness.js';
import { labCli, runShear } from '../support/cli-runner.js';

/**
 * The crash matrix: the CLI is SIGKILLed right after each lifecycle step; then
 * `leftovers` must list exactly the traces, `cleanup --yes` must remove them,
 * and the host must be pristine and able to take the next backup.
 */
let lab: LabHost;
let home: string;
let hostArgs: () => string[];
let journalDir: string;
let fleeceDir: string;
let target: string;

let monitorDir: string;

beforeAll(async () => {
  // A second QMP monitor (as a host with a management tool on the first has): named before the lab exists.
  monitorDir = await mkdtemp(join(tmpdir(), 'shear-mon-'));
  lab = await startLabHost({
    vms: [{
      name: 'app',
      // vd0 under a throttle filter (Proxmox VE 9): its leftover filter sits under the throttle, not the device.
      disks: [{ id: 'vd0', bus: 'virtio', format: 'qcow2', sizeBytes: 32 * MiB, throttleBytesPerSecond: 512 * MiB }, { id: 'scsi0', bus: 'scsi', format: 'raw', sizeBytes: 32 * MiB + 512 }],
      extraArgs: ['-chardev', `socket,id=mon2,path=${join(monitorDir, 'mon2.sock')},server=on,wait=off`, '-mon', 'chardev=mon2,mode=control'],
    }],
  });
  ({ home, hostArgs } = labCli(lab));
  journalDir = labFolder(lab, 'journal');
  fleeceDir = labFolder(lab, 'fleece');
  target = labFolder(lab, 'archive');
});
afterAll(async () => {
  await lab?.stop();
  await rm(monitorDir, { recursive: true, force: true });
});

const env = () => ({ HOME: home, SHEAR_JOURNAL_DIR: journalDir });
const storageArgs = () => ['--fleecing-storage', `dir:${fleeceDir}`];

async function leftovers(): Promise<Array<Record<string, unknown>>> {
  const r = await runShear(['leftovers', ...hostArgs(), ...storageArgs(), '--json'], { env: env() });
  expect(r.code, r.stderr).toBe(0);
  return r.lines.filter((l) => l.type === 'leftover');
}

/** Starts a backup that stops after `step`, then SIGKILLs it there. */
async function killAfter(step: string): Promise<void> {
  let killed = false;
  // A slow copy keeps the jobs running when the kill comes mid-job; "copy" needs them finished.
  const slow = step === 'copy' ? [] : ['--bwlimit', '1'];
  const run = await runShear(
    ['backup', ...hostArgs(), '--vm', 'app', '--target', `dir:${target}`, ...storageArgs(), ...slow, '--json'],
    {
      env: { ...env(), SHEAR_TEST_HOLD_AFTER_STEP: step },
      onStderr: (text, child) => {
        if (!killed && text.includes(`SHEAR_TEST_HOLDING ${step}`)) {
          killed = true;
          child.kill('SIGKILL');
        }
      },
    },
  );
  expect(run.signal, `backup should have been killed after ${step}: ${run.stdout.slice(-2000)}`).toBe('SIGKILL');
}

/** Waits until the dead run's lock is free (sshd notices the closed connection). */
async function orphanedTraces(): Promise<Array<Record<string, unknown>>> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const items = await leftovers();
    if (!items.some((i) => i.class === 'in-use') || Date.now() > deadline) return items;
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** `kind:name` with the run id taken out of shear- names, to compare against the expected traces. */
const traceNames = (items: Array<Record<string, unknown>>) =>
  items.map((i) => `${String(i.kind)}:${(String(i.id).split(':').pop() ?? '').replace(/^shear-[0-9a-f]{8}-/, '')}`).sort();

/** `holdFirstMonitor`: another client holds the first QMP socket while cleanup runs (it must use the second). */
const CASES: Array<{ step: string; traces: string[]; paused?: boolean; holdFirstMonitor?: boolean }> = [
  { step: 'allocate', traces: ['image:vm-app-fleece-0.qcow2', 'image:vm-app-fleece-1.qcow2'] },
  { step: 'attach', traces: ['image:vm-app-fleece-0.qcow2', 'image:vm-app-fleece-1.qcow2', 'node:0-fl', 'node:0-tgt', 'node:1-fl', 'node:1-tgt'] },
  {
    step: 'filters',
    paused: true,
    traces: ['filter:scsi0', 'filter:vd0-throttle', 'image:vm-app-fleece-0.qcow2', 'image:vm-app-fleece-1.qcow2',
      'node:0-cbw', 'node:0-fl', 'node:0-snap', 'node:0-tgt', 'node:1-cbw', 'node:1-fl', 'node:1-snap', 'node:1-tgt', 'paused-vm:app'],
  },
  {
    step: 'start',
    holdFirstMonitor: true,
    traces: ['filter:scsi0', 'filter:vd0-throttle', 'image:vm-app-fleece-0.qcow2', 'image:vm-app-fleece-1.qcow2', 'job:0', 'job:1',
      'node:0-cbw', 'node:0-fl', 'node:0-snap', 'node:0-tgt', 'node:1-cbw', 'node:1-fl', 'node:1-snap', 'node:1-tgt'],
  },
  {
    step: 'copy',
    traces: ['filter:scsi0', 'filter:vd0-throttle', 'image:vm-app-fleece-0.qcow2', 'image:vm-app-fleece-1.qcow2', 'job:0', 'job:1',
      'node:0-cbw', 'node:0-fl', 'node:0-snap', 'node:0-tgt', 'node:1-cbw', 'node:1-fl', 'node:1-snap', 'node:1-tgt'],
  },
];

describe('crash matrix: SIGKILL after each step, then leftovers and cleanup', () => {
  for (const c of CASES) {
    it(`after "${c.step}"`, async () => {
      const vm = lab.vm('app');
      const before = await snapshotState(vm);
      await killAfter(c.step);
      const items = await orphanedTraces();
      const runId = String(items.find((i) => i.kind === 'journal')?.runId);
      const partial = String(items.find((i) => i.kind === 'partial-archive')?.path);
      expect(partial).toMatch(/\/app\/\d{8}T\d{6}Z\.partial$/);
      expect(traceNames(items)).toEqual([...c.traces, `journal:${runId}`, `partial-archive:${partial}`].sort());
      expect(items.every((i) => i.class === 'orphaned'), JSON.stringify(items.filter((i) => i.class !== 'orphaned'))).toBe(true);
      if (c.paused) expect((await vm.qmp((q) => q.execute('query-status'))).status).toBe('paused');
      expect(items.filter((i) => i.urgent).map((i) => i.kind).sort()).toEqual(
        [...(c.paused ? ['paused-vm'] : []), ...(c.traces.some((t) => t.startsWith('filter:')) ? ['filter', 'filter'] : []), ...(c.step === 'start' ? ['job', 'job'] : [])].sort(),
      );

      const dry = await runShear(['cleanup', ...hostArgs(), ...storageArgs(), '--json'], { env: env() });
      expect(dry.code).toBe(0);
      expect(dry.lines.filter((l) => l.type === 'would-remove')).toHaveLength(items.length);
      expect(await leftovers()).toHaveLength(items.length);

      const holder = c.holdFirstMonitor ? await QmpClient.connect(netConnect(vm.qmpSocket), { label: 'holder', greetingTimeoutMs: 10_000 }) : null;
      const clean = await runShear(['cleanup', ...hostArgs(), ...storageArgs(), '--yes', '--json'], { env: env() }).finally(() => holder?.close());
      expect(clean.code, clean.stdout).toBe(0);
      expect(clean.lines.filter((l) => l.type === 'removed')).toHaveLength(items.length);
      expect(clean.lines.at(-1)).toMatchObject({ type: 'result', ok: true });
      expect(await leftovers()).toEqual([]);
      expect(fleeceFiles(fleeceDir)).toEqual([]);
      await expectPristine(vm, before);

      // Idempotent: a second cleanup has nothing to do.
      const again = await runShear(['cleanup', ...hostArgs(), ...storageArgs(), '--yes', '--json'], { env: env() });
      expect(again.code).toBe(0);
      expect(again.lines.filter((l) => l.type === 'removed')).toEqual([]);

      const next = await runShear(['backup', ...hostArgs(), '--vm', 'app', '--target', `dir:${target}`, ...storageArgs(), '--json'], { env: env() });
      expect(next.code, next.stdout.slice(-2000)).toBe(0);
      expect(next.lines.at(-1)).toMatchObject({ type: 'result', ok: true });
    });
  }

  it('a backup cleans up its own VM\'s orphans first, as Proxmox does', async () => {
    await killAfter('start');
    await orphanedTraces();
    const next = await runShear(['backup', ...hostArgs(), '--vm', 'app', '--target', `dir:${target}`, ...storageArgs(), '--json'], { env: env() });
    expect(next.code, next.stdout.slice(-2000)).toBe(0);
    expect(next.lines.some((l) => l.type === 'log' && /cleaning up \d+ trace\(s\) of earlier failed backups of app first/.test(String(l.message)))).toBe(true);
    expect(await leftovers()).toEqual([]);
  });
});

describe('images Shear does not know', () => {
  it('reports a hand-made fleece-named image as unknown and removes it only when named', async () => {
    const path = join(fleeceDir, 'vm-app-fleece-7.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', path, '16M']);
    const items = await leftovers();
    const id = `image:dir:${fleeceDir}:vm-app-fleece-7.qcow2`;
    expect(items).toEqual([expect.objectContaining({ id, kind: 'image', class: 'unknown', path })]);
    const plain = await runShear(['cleanup', ...hostArgs(), ...storageArgs(), '--yes', '--json'], { env: env() });
    expect(plain.code).toBe(0);
    expect(existsSync(path)).toBe(true);
    const named = await runShear(['cleanup', ...hostArgs(), ...storageArgs(), '--yes', '--include-unknown', id, '--json'], { env: env() });
    expect(named.code, named.stdout).toBe(0);
    expect(named.lines.filter((l) => l.type === 'removed').map((l) => l.id)).toEqual([id]);
    expect(existsSync(path)).toBe(false);
  });

  it('never frees an image a running QEMU holds open, whatever the flags', async () => {
    const vm = lab.vm('app');
    const path = join(fleeceDir, 'vm-app-fleece-8.raw');
    execFileSync('qemu-img', ['create', '-q', '-f', 'raw', path, '8M']);
    await vm.qmp((q) => q.execute('blockdev-add', { driver: 'raw', 'node-name': 'someone-elses', file: { driver: 'file', filename: path } }));
    try {
      const id = `image:dir:${fleeceDir}:vm-app-fleece-8.raw`;
      const items = await leftovers();
      expect(items).toEqual([expect.objectContaining({ id, class: 'in-use', heldBy: [vm.pid] })]);
      const cli = await runShear(['cleanup', ...hostArgs(), ...storageArgs(), '--yes', '--include-unknown', id], { env: env() });
      expect(cli.code).toBe(2);
      // The engine refuses too, even when asked for it by id.
      const host = await labSession(lab);
      try {
        const report = await cleanupLeftovers(host, { journalDir, storages: [parseStorageSpec(`dir:${fleeceDir}`)], ids: [id], includeUnknown: [id] });
        expect(report.removed).toEqual([]);
        expect(report.skipped).toEqual([expect.objectContaining({ id, reason: expect.stringMatching(/in use: held open by QEMU/) })]);
        expect((await scanLeftovers(host, { journalDir, storages: [parseStorageSpec(`dir:${fleeceDir}`)] })).items.map((i) => i.id)).toEqual([id]);
      } finally {
        host.close();
      }
      expect(existsSync(path)).toBe(true);
    } finally {
      await vm.qmp((q) => q.execute('blockdev-del', { 'node-name': 'someone-elses' }));
      execFileSync('rm', ['-f', path]);
    }
  });
});
