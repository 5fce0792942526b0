import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateRequest, type HostKeyPrompt, type RunSnapshot } from '../../shared/contract.js';
import { MemorySecretStore } from '../../electron/engine/app/host-store.js';
import { ShearService } from '../../electron/engine/api.js';
import { imagePatternMatches, listBlockNodes } from '../lab/image.js';
import { startProxmoxLab, tpmPattern, type ProxmoxLab } from '../lab/proxmox-lab.js';
import { expectPristine, labFolder, MiB, snapshotState } from '../support/backup-harness.js';
import { expectPointInTime, seedBeforeBackup, writeDuringCopy } from '../support/backup-scenario.js';
import { labCli, runShear } from '../support/cli-runner.js';

/**
 * A Proxmox-shaped host (real sshd and QEMU, stand-ins for Proxmox's CLI tools):
 * VMIDs, Proxmox storages through pvesm, the backup lock, the config archived.
 */
let pve: ProxmoxLab;
let home: string;
let hostArgs: () => string[];
let journalDir: string;
let target: string;

beforeAll(async () => {
  pve = await startProxmoxLab({
    vms: [
      {
        vmid: 100,
        name: 'pve-web',
        tpm: true,
        disks: [
          { id: 'scsi0', bus: 'scsi', format: 'qcow2', sizeBytes: 32 * MiB },
          { id: 'scsi1', bus: 'scsi', format: 'raw', sizeBytes: 32 * MiB + 512 },
          { id: 'efidisk0', bus: 'efivars' },
        ],
      },
      {
        vmid: 101,
        name: 'pve-stopped',
        running: false,
        inactive: true,
        disks: [
          { id: 'scsi0', bus: 'scsi', format: 'qcow2', sizeBytes: 16 * MiB },
          { id: 'virtio1', bus: 'virtio', format: 'raw', sizeBytes: 8 * MiB + 512 },
          { id: 'efidisk0', bus: 'efivars' },
        ],
      },
      { vmid: 102, name: 'pve-template', template: true, disks: [{ id: 'scsi0', bus: 'scsi', format: 'qcow2', sizeBytes: 16 * MiB }] },
    ],
  });
  ({ home, hostArgs } = labCli(pve.lab));
  journalDir = labFolder(pve.lab, 'journal');
  target = labFolder(pve.lab, 'target');
});
afterAll(async () => {
  await pve?.stop();
});

const env = () => ({ HOME: home, SHEAR_JOURNAL_DIR: journalDir });
const vm = () => pve.lab.vm('pve-web');
const fleeceNames = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((f) => /^vm-100-fleece-\d+/.test(f)).sort() : []);

async function backupWithWrites(storage: string, seen: (names: string[]) => void) {
  await seedBeforeBackup(vm());
  let wrote: Promise<void> | null = null;
  const run = await runShear(['backup', ...hostArgs(), '--vm', '100', '--target', `dir:${target}`, '--fleecing-storage', storage, '--bwlimit', '24', '--json'], {
    env: env(),
    onStdoutLine: (line) => {
      if (line.type === 'progress' && !wrote) {
        seen([...fleeceNames(join(pve.storagePath('local'), 'images', '100')), ...fleeceNames(pve.storagePath('fast'))]);
        wrote = writeDuringCopy(vm());
      }
    },
  });
  await wrote;
  return run;
}

/** A backup of VM 100 SIGKILLed right after its jobs started: filters, jobs, images and the lock stay. */
async function killBackupAfterStart(): Promise<void> {
  let killed = false;
  const run = await runShear(['backup', ...hostArgs(), '--vm', '100', '--target', `dir:${target}`, '--fleecing-storage', 'local', '--bwlimit', '1', '--json'], {
    env: { ...env(), SHEAR_TEST_HOLD_AFTER_STEP: 'start' },
    onStderr: (text, child) => {
      if (!killed && text.includes('SHEAR_TEST_HOLDING start')) {
        killed = true;
        child.kill('SIGKILL');
      }
    },
  });
  expect(run.signal).toBe('SIGKILL');
}

describe('Proxmox VE host', () => {
  it('lists VMs by VMID with their names', async () => {
    const r = await runShear(['vms', ...hostArgs(), '--json'], { env: env() });
    expect(r.code, r.stdout).toBe(0);
    const vms = r.lines.filter((l) => l.type === 'vm');
    expect(vms).toEqual([
      expect.objectContaining({ id: '100', name: 'pve-web', proxmox: { vmid: 100, status: 'running', template: false, lock: null } }),
      expect.objectContaining({ id: '101', name: 'pve-stopped', runState: 'stopped', proxmox: { vmid: 101, status: 'stopped', template: false, lock: null } }),
      expect.objectContaining({ id: '102', name: 'pve-template', proxmox: { vmid: 102, status: 'stopped', template: true, lock: null } }),
    ]);
    expect((vms[0]?.disks as Array<{ device: string; role: string }>).map((d) => [d.device, d.role])).toEqual([['efidisk0', 'efivars'], ['scsi0', 'disk'], ['scsi1', 'disk']]);
  });

  it('backs up through pvesm on a dir storage (vm-100-fleece-N.qcow2), under the backup lock, with the config archived', async () => {
    const before = await snapshotState(vm());
    let seen: string[] = [];
    const r = await backupWithWrites('local', (n) => (seen = n));
    expect(r.code, r.stdout.slice(-3000)).toBe(0);
    expect(seen).toEqual(['vm-100-fleece-0.qcow2', 'vm-100-fleece-1.qcow2']);
    expect(fleeceNames(join(pve.storagePath('local'), 'images', '100'))).toEqual([]);
    const archive = String(r.lines.at(-1)?.archive);
    await expectPointInTime(vm(), archive);
    const definition = JSON.parse(readFileSync(join(archive, 'definition.json'), 'utf8')) as { kind: string; vmid: number; config: Record<string, string> };
    expect(definition).toMatchObject({ kind: 'proxmox-vm-config', vmid: 100, config: { name: 'pve-web', scsi0: expect.stringMatching(/^local:100\/vm-100-disk-\d\.qcow2/) } });
    const manifest = JSON.parse(readFileSync(join(archive, 'manifest.json'), 'utf8')) as { vm: { id: string }; disks: Array<{ device: string; fleecing: boolean }> };
    expect(manifest.vm.id).toBe('100');
    expect(manifest.disks.map((d) => [d.device, d.fleecing])).toEqual([['efidisk0', false], ['scsi0', true], ['scsi1', true], ['tpmstate0', false]]);
    // The TPM state (swtpm's, no QEMU drive) is copied from its volume, opened read-only for the run.
    const tpmVolume = pve.volumePath(String(definition.config.tpmstate0).split(',')[0] ?? '');
    expect(readFileSync(tpmVolume).equals(tpmPattern(4 * MiB))).toBe(true);
    execFileSync('qemu-img', ['compare', '-q', '-f', 'raw', '-F', 'qcow2', tpmVolume, join(archive, 'tpmstate0.qcow2')]);
    const calls = pve.state().calls ?? [];
    const lockAt = calls.findIndex((c) => c.join(' ') === 'qm set 100 --lock backup');
    const unlockAt = calls.findIndex((c) => c.join(' ') === 'qm unlock 100');
    const allocs = calls.filter((c) => c[0] === 'alloc');
    expect(lockAt).toBeGreaterThanOrEqual(0);
    expect(unlockAt).toBeGreaterThan(lockAt);
    // Sizes as Proxmox expects them: KiB (32 MiB + 512 rounds up to 32769 KiB).
    // Allocated in parallel: the order is not fixed.
    expect(allocs.map((c) => c.slice(1)).sort((a, b) => String(a[2]).localeCompare(String(b[2])))).toEqual([
      ['local', '100', 'vm-100-fleece-0.qcow2', '32768', 'qcow2'],
      ['local', '100', 'vm-100-fleece-1.qcow2', '32769', 'qcow2'],
    ]);
    expect(pve.state().vms['100']?.lock).toBeUndefined();
    await expectPristine(vm(), before);
  });

  it('uses raw volumes without an extension on an lvmthin storage', async () => {
    const before = await snapshotState(vm());
    let seen: string[] = [];
    const r = await backupWithWrites('fast', (n) => (seen = n));
    expect(r.code, r.stdout.slice(-3000)).toBe(0);
    expect(seen).toEqual(['vm-100-fleece-0', 'vm-100-fleece-1']);
    expect(fleeceNames(pve.storagePath('fast'))).toEqual([]);
    await expectPointInTime(vm(), String(r.lines.at(-1)?.archive));
    await expectPristine(vm(), before);
  });

  it('refuses a VM another operation has locked, leaving everything as it was', async () => {
    const state = JSON.parse(readFileSync(pve.statePath, 'utf8')) as { vms: Record<string, { lock?: string }> };
    (state.vms['100'] as { lock?: string }).lock = 'migrate';
    writeFileSync(pve.statePath, JSON.stringify(state));
    try {
      const r = await runShear(['backup', ...hostArgs(), '--vm', '100', '--target', `dir:${target}`, '--fleecing-storage', 'local', '--json'], { env: env() });
      expect(r.code).toBe(1);
      expect(r.lines.at(-1)).toMatchObject({ ok: false, error: expect.stringMatching(/VM is locked \(migrate\)/) });
      expect(pve.state().vms['100']?.lock).toBe('migrate');
      expect(fleeceNames(join(pve.storagePath('local'), 'images', '100'))).toEqual([]);
    } finally {
      const s = JSON.parse(readFileSync(pve.statePath, 'utf8')) as { vms: Record<string, { lock?: string }> };
      delete (s.vms['100'] as { lock?: string }).lock;
      writeFileSync(pve.statePath, JSON.stringify(s));
    }
  });

  it('refuses a fleecing storage QEMU reaches through librbd (RBD without krbd) with a clear error, freeing what it allocated', async () => {
    const before = await snapshotState(vm());
    const r = await runShear(['backup', ...hostArgs(), '--vm', '100', '--target', `dir:${target}`, '--fleecing-storage', 'ceph', '--json'], { env: env() });
    expect(r.code).toBe(1);
    expect(r.lines.at(-1)).toMatchObject({ ok: false, error: expect.stringMatching(/pve:rbd:ceph: .*userspace client \(rbd:\).*RBD with krbd/) });
    const calls = (pve.state().calls ?? []).filter((c) => c[1]?.startsWith('ceph'));
    expect(calls.filter((c) => c[0] === 'alloc').length).toBeGreaterThan(0);
    expect(pve.state().storages.ceph?.volumes ?? {}).toEqual({});
    expect(pve.state().vms['100']?.lock).toBeUndefined();
    await expectPristine(vm(), before);
  });

  it('finds and cleans what a killed run left on Proxmox storages, including the backup lock', async () => {
    const before = await snapshotState(vm());
    await killBackupAfterStart();
    expect(pve.state().vms['100']?.lock).toBe('backup');
    let items: Array<Record<string, unknown>> = [];
    for (let i = 0; i < 30; i++) {
      const r = await runShear(['leftovers', ...hostArgs(), '--fleecing-storage', 'local', '--json'], { env: env() });
      items = r.lines.filter((l) => l.type === 'leftover');
      if (items.length > 0 && items.every((x) => x.class === 'orphaned')) break;
      await new Promise((res) => setTimeout(res, 300));
    }
    const ids = items.map((x) => String(x.id));
    expect(ids).toEqual(expect.arrayContaining(['vm-lock:100', 'image:pve:dir:local:vm-100-fleece-0.qcow2', 'image:pve:dir:local:vm-100-fleece-1.qcow2']));
    expect(items.every((x) => x.class === 'orphaned')).toBe(true);
    const clean = await runShear(['cleanup', ...hostArgs(), '--fleecing-storage', 'local', '--yes', '--json'], { env: env() });
    expect(clean.code, clean.stdout).toBe(0);
    expect(clean.lines.filter((l) => l.type === 'removed')).toHaveLength(items.length);
    expect(pve.state().vms['100']?.lock).toBeUndefined();
    expect(fleeceNames(join(pve.storagePath('local'), 'images', '100'))).toEqual([]);
    expect((pve.state().calls ?? []).filter((c) => c[0] === 'free').map((c) => c[1])).toEqual(
      expect.arrayContaining(['local:100/vm-100-fleece-0.qcow2', 'local:100/vm-100-fleece-1.qcow2']),
    );
    await expectPristine(vm(), before);
  });

  it('the next backup of a VM whose run was killed mid-job first removes that run\'s filters, job, images and lock', async () => {
    const before = await snapshotState(vm());
    await killBackupAfterStart();
    expect((await listBlockNodes(vm())).some((n) => n.startsWith('shear-'))).toBe(true);
    // Straight away, no `cleanup`: the journal's lock dies with the killed process within moments.
    let r = await runShear(['backup', ...hostArgs(), '--vm', '100', '--target', `dir:${target}`, '--fleecing-storage', 'local', '--json'], { env: env() });
    for (let i = 0; i < 20 && r.code !== 0 && /another backup of VM .* is running/.test(r.stdout); i++) {
      await new Promise((res) => setTimeout(res, 300));
      r = await runShear(['backup', ...hostArgs(), '--vm', '100', '--target', `dir:${target}`, '--fleecing-storage', 'local', '--json'], { env: env() });
    }
    expect(r.code, r.stdout.slice(-3000)).toBe(0);
    const logs = r.lines.filter((l) => l.type === 'log').map((l) => String(l.message));
    expect(logs.some((m) => /cleaning up \d+ trace\(s\) of earlier failed backups/.test(m))).toBe(true);
    expect(logs.filter((m) => /^removed copy-before-write filter/.test(m)).length).toBe(2);
    expect(pve.state().vms['100']?.lock).toBeUndefined();
    expect(fleeceNames(join(pve.storagePath('local'), 'images', '100'))).toEqual([]);
    await expectPristine(vm(), before);
  });
});

describe('the app on a Proxmox VE host', () => {
  it('plans and runs the backup of a stopped VM and a template from the wizard: their volumes, copied directly', async () => {
    const dataDir = labFolder(pve.lab, 'app-data');
    const service = new ShearService({ dataDir, secrets: new MemorySecretStore(), version: 'test', journalDir });
    const updates: RunSnapshot[] = [];
    service.subscribe((event, payload) => {
      if (event === 'hostkey:prompt') void service.handle('hostkey:answer', { promptId: (payload as HostKeyPrompt).promptId, trust: true });
      if (event === 'runs:update') updates.push(...(payload as RunSnapshot[]));
    });
    const call = <C extends Parameters<ShearService['handle']>[0]>(name: C, request: unknown) => service.handle(name, validateRequest(name, request));
    try {
      const sshd = pve.lab.sshd;
      const { id: hostId } = await call('hosts:save', { host: { name: 'pve', address: sshd.host, port: sshd.port, user: 'root', auth: { kind: 'key', privateKeyPath: sshd.clientKeyPath } } });
      const request = { hostId, vmIds: ['101', '102'], fleecing: { storage: 'local', format: 'auto' }, target: `dir:${target}` };
      const plan = await call('backup:plan', request);
      expect(plan.images).toEqual([]);
      // Sizes as the configs record them (whole KiB).
      expect(plan.direct.map((d) => [d.vmId, d.device, d.sizeBytes])).toEqual([
        ['101', 'efidisk0', 540672], ['101', 'scsi0', 16 * MiB], ['101', 'virtio1', 8 * MiB + 1024], ['102', 'scsi0', 16 * MiB],
      ]);
      expect(plan.direct.map((d) => d.reason)).toEqual([
        ...Array<string>(3).fill('VM is stopped: copied from its volume, no fleecing needed'), 'VM is a template: copied from its volume, no fleecing needed',
      ]);
      const { runId } = await call('backup:start', request);
      let end: RunSnapshot | undefined;
      for (let i = 0; i < 600 && !end; i++) {
        end = updates.find((r) => r.id === runId && r.state !== 'running');
        if (!end) await new Promise((r) => setTimeout(r, 100));
      }
      expect(end?.error ?? null).toBeNull();
      expect(end?.state).toBe('succeeded');
      expect(end?.archives).toHaveLength(2);
      expect(pve.state().vms['101']?.lock).toBeUndefined();
    } finally {
      await service.close();
    }
  });
});

let stoppedArchive = '';

describe('Proxmox VMs without QEMU', () => {
  /** Writes a pattern straight into a volume (nothing runs it). */
  const fill = (volid: string, format: string, pattern: number, length: string) =>
    execFileSync('qemu-io', ['-f', format, pve.volumePath(volid), '-c', `write -P ${pattern} 0 ${length}`]);

  it('backs up a stopped VM straight from its volumes under the backup lock, activating an inactive LV for the copy', async () => {
    fill('local:101/vm-101-disk-0.qcow2', 'qcow2', 0x44, '1M');
    fill('fast:vm-101-disk-1', 'raw', 0x55, '1M');
    const callsBefore = (pve.state().calls ?? []).length;
    const r = await runShear(['backup', ...hostArgs(), '--vm', '101', '--target', `dir:${target}`, '--no-fleecing', '--json'], { env: env() });
    expect(r.code, r.stdout.slice(-3000)).toBe(0);
    const archive = String(r.lines.at(-1)?.archive);
    stoppedArchive = archive;
    const manifest = JSON.parse(readFileSync(join(archive, 'manifest.json'), 'utf8')) as { runState: string; disks: Array<{ device: string; size: number; fleecing: boolean; role: string }> };
    expect(manifest.runState).toBe('stopped');
    expect(manifest.disks.map((d) => [d.device, d.size, d.fleecing, d.role])).toEqual([
      ['efidisk0', 540672, false, 'efivars'],
      ['scsi0', 16 * MiB, false, 'disk'],
      ['virtio1', 8 * MiB + 512, false, 'disk'],
    ]);
    expect(await imagePatternMatches(join(archive, 'scsi0.qcow2'), { offset: 0, length: MiB, pattern: 0x44 }, { format: 'qcow2' })).toBe(true);
    expect(await imagePatternMatches(join(archive, 'virtio1.qcow2'), { offset: 0, length: MiB, pattern: 0x55 }, { format: 'qcow2' })).toBe(true);
    const calls = (pve.state().calls ?? []).slice(callsBefore).map((c) => c.join(' '));
    expect(calls).toEqual(['qm set 101 --lock backup', 'lvchange -ay -K pve/vm-101-disk-1', 'lvchange -an pve/vm-101-disk-1', 'qm unlock 101']);
    expect(pve.volumePath('fast:vm-101-disk-1')).toContain('/.inactive/');
    expect(JSON.parse(readFileSync(join(archive, 'definition.json'), 'utf8'))).toMatchObject({ kind: 'proxmox-vm-config', vmid: 101, config: { ide2: 'none,media=cdrom' } });
  });

  it('backs up a template without any QEMU, into a Proxmox backup storage', async () => {
    fill('local:102/base-102-disk-0.qcow2', 'qcow2', 0x66, '2M');
    const r = await runShear(['backup', ...hostArgs(), '--vm', '102', '--target', 'local', '--no-fleecing', '--json'], { env: env() });
    expect(r.code, r.stdout.slice(-3000)).toBe(0);
    const archive = String(r.lines.at(-1)?.archive);
    expect(archive.startsWith(`${pve.storagePath('local')}/shear-backups/102/`)).toBe(true);
    const refused = await runShear(['backup', ...hostArgs(), '--vm', '102', '--target', 'fast', '--no-fleecing', '--json'], { env: env() });
    expect(refused.lines.at(-1)).toMatchObject({ ok: false, error: expect.stringMatching(/"fast" does not take backups/) });
    expect((JSON.parse(readFileSync(join(archive, 'manifest.json'), 'utf8')) as { runState: string }).runState).toBe('template');
    expect(await imagePatternMatches(join(archive, 'scsi0.qcow2'), { offset: 0, length: 2 * MiB, pattern: 0x66 }, { format: 'qcow2' })).toBe(true);
    expect(pve.state().vms['102']?.lock).toBeUndefined();
  });

  it('restores an archive as new volumes on an lvmthin storage through pvesm, verified, and prints how to attach them', async () => {
    expect(stoppedArchive).not.toBe('');
    const r = await runShear(['restore', ...hostArgs(), '--archive', stoppedArchive, '--to', 'fast', '--json'], { env: env() });
    expect(r.code, r.stdout.slice(-3000)).toBe(0);
    const restored = r.lines.filter((l) => l.type === 'restored') as Array<{ device: string; name: string; path: string; format: string }>;
    expect(restored.map((x) => [x.device, x.format])).toEqual([['efidisk0', 'raw'], ['scsi0', 'raw'], ['virtio1', 'raw']]);
    for (const x of restored) expect(x.name).toMatch(new RegExp(`^vm-101-restore-\\d{8}T\\d{6}Z-${x.device}$`));
    const virtio1 = restored.find((x) => x.device === 'virtio1');
    expect(await imagePatternMatches(String(virtio1?.path), { offset: 0, length: MiB, pattern: 0x55 }, { format: 'raw' })).toBe(true);
    expect(r.lines.filter((l) => l.type === 'attach-command').map((l) => l.command)).toEqual(
      restored.map((x) => `qm set 101 --${x.device} fast:${x.name}`),
    );
    // One JSON object per line, and the result last, after the images and the commands.
    expect(r.lines.at(-1)).toMatchObject({ type: 'result', ok: true, archive: expect.stringMatching(/vm-101-restore-\d{8}T\d{6}Z\.json$/) });
  });

  it('restores into the stopped VM\'s disks under the create lock, activating the inactive LV, only with --yes', async () => {
    fill('local:101/vm-101-disk-0.qcow2', 'qcow2', 0x99, '1M');
    fill('fast:vm-101-disk-1', 'raw', 0x99, '1M');
    const refused = await runShear(['restore', ...hostArgs(), '--archive', stoppedArchive, '--vm', '101', '--disk', 'scsi0', '--json'], { env: env() });
    expect(refused.code).toBe(1);
    const callsBefore = (pve.state().calls ?? []).length;
    const r = await runShear(['restore', ...hostArgs(), '--archive', stoppedArchive, '--vm', '101', '--disk', 'scsi0', '--disk', 'virtio1', '--yes', '--json'], { env: env() });
    expect(r.code, r.stdout.slice(-3000)).toBe(0);
    expect((pve.state().calls ?? []).slice(callsBefore).map((c) => c.join(' '))).toEqual([
      'qm set 101 --lock create', 'lvchange -ay -K pve/vm-101-disk-1', 'lvchange -an pve/vm-101-disk-1', 'qm unlock 101',
    ]);
    expect(await imagePatternMatches(pve.volumePath('local:101/vm-101-disk-0.qcow2'), { offset: 0, length: MiB, pattern: 0x44 }, { format: 'qcow2' })).toBe(true);
    expect(await imagePatternMatches(pve.volumePath('fast:vm-101-disk-1'), { offset: 0, length: MiB, pattern: 0x55 }, { format: 'raw' })).toBe(true);
    expect(pve.state().vms['101']?.lock).toBeUndefined();
  });

  it('never restores into a running VM', async () => {
    const r = await runShear(['restore', ...hostArgs(), '--archive', stoppedArchive, '--vm', '100', '--disk', 'scsi0', '--yes', '--json'], { env: env() });
    expect(r.code).toBe(1);
    expect(r.lines.at(-1)).toMatchObject({ ok: false, error: expect.stringMatching(/VM 100 is running/) });
    expect(pve.state().vms['100']?.lock).toBeUndefined();
  });
});
