/**
 * Tests of the lab host itself (test/lab): every other integration test trusts it, so each
 * check here would fail if the lab quietly stopped doing what it claims.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QmpClient, QmpClosedError } from '../../electron/engine/qmp/client.js';
import type { BlockInfo } from '../../electron/engine/qmp/types.js';
import {
  GuestPatternMismatchError,
  guestFlush,
  guestPatternMatches,
  guestRead,
  guestWrite,
  hmpQuote,
} from '../lab/guest-io.js';
import { imagePatternMatches, imageVirtualSize, listBlockNodes } from '../lab/image.js';
import { startLabHost, type LabHost } from '../lab/lab-host.js';
import { descendantsOf, isAlive } from '../lab/processes.js';
import { OVMF_CODE, OVMF_VARS, qemuBinaries } from '../lab/qemu.js';
import { generateClientKey, startSshd, type LabSshd } from '../lab/sshd.js';
import { pathExists, requireTool, sleep } from '../lab/tools.js';
import { useLabHost } from '../lab/use-lab-host.js';

const MiB = 1024 * 1024;

/** True while a process with this PID exists (zombies count as gone). */
function pidAlive(pid: number): boolean {
  try {
    const state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
    return state !== undefined && state !== 'Z';
  } catch {
    return false;
  }
}

function cmdlineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

async function waitUntil(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(50);
  }
}

interface Exited {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

/** Runs the OpenSSH client against a lab sshd with no user or system config in the way. */
function runSsh(sshd: LabSshd, options: { key: string; knownHosts: string; extra?: string[] }, command: string[]): ChildProcess {
  return spawn(
    requireTool('ssh', 'openssh-client'),
    [
      '-F', '/dev/null',
      '-i', options.key,
      '-o', 'IdentitiesOnly=yes',
      '-o', 'BatchMode=yes',
      '-o', 'StrictHostKeyChecking=yes',
      '-o', `UserKnownHostsFile=${options.knownHosts}`,
      '-o', 'GlobalKnownHostsFile=/dev/null',
      '-o', 'ConnectTimeout=10',
      '-p', String(sshd.port),
      ...(options.extra ?? []),
      `${sshd.user}@${sshd.host}`,
      ...command,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
}

function exitOf(child: ChildProcess): Promise<Exited> {
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  return new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal, output })));
}

function ssh(sshd: LabSshd, options: { key: string; knownHosts: string }, command: string[]): Promise<Exited> {
  return exitOf(runSsh(sshd, options, command));
}

/** Reads the first line a server sends (the SSH banner). */
function firstLine(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect({ host: '127.0.0.1', port });
    let data = '';
    socket.on('data', (chunk: Buffer) => {
      data += chunk.toString('latin1');
      if (data.includes('\n')) {
        socket.destroy();
        resolve(data.split('\n')[0]?.trim() ?? '');
      }
    });
    socket.on('error', reject);
  });
}

/** PIDs of processes whose command line holds `-name <name>`: a lab VM by its unique name. */
function qemuPidsNamed(name: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const argv = cmdlineOf(Number(entry)).split('\0');
    const i = argv.indexOf('-name');
    if (i >= 0 && argv[i + 1] === name && pidAlive(Number(entry))) pids.push(Number(entry));
  }
  return pids;
}

/** Normalizes query-block's `qdev`: scsi-hd reports the bare id, virtio and pflash a full path. */
function qdevOf(block: BlockInfo): string | undefined {
  if (block.qdev === undefined) return undefined;
  return block.qdev.startsWith('/') ? block.qdev : `/machine/peripheral/${block.qdev}`;
}

describe('lab host: QEMU VMs', () => {
  // useLabHost registers beforeAll/afterAll; afterAll stops the lab even if tests fail.
  const lab = useLabHost({
    vms: [
      {
        name: 'lab-vm',
        guestAgent: true,
        disks: [
          { id: 'vd0', bus: 'virtio', format: 'qcow2', sizeBytes: 32 * MiB },
          { id: 'scsi0', bus: 'scsi', format: 'raw', sizeBytes: 16 * MiB },
          { id: 'efidisk0', bus: 'efivars' },
        ],
      },
      { name: 'lab-paused', paused: true, disks: [{ id: 'vd0', bus: 'virtio', sizeBytes: 8 * MiB }] },
    ],
  });

  it('answers QMP query-version with the version of its greeting', async () => {
    const vm = lab().vm('lab-vm');
    const version = await vm.qmp((qmp) => qmp.execute('query-version'));
    expect(version.qemu).toEqual(vm.qemuVersion);
    expect(version.qemu.major).toBeGreaterThanOrEqual(7);
  });

  it('shows every disk in query-block under its qdev path with its size', async () => {
    const vm = lab().vm('lab-vm');
    const blocks = await vm.qmp((qmp) => qmp.execute('query-block'));
    const byQdev = new Map(blocks.map((b) => [qdevOf(b), b]));

    const vd0 = byQdev.get('/machine/peripheral/vd0/virtio-backend');
    expect(vd0?.inserted).toMatchObject({ 'node-name': 'vd0-fmt', drv: 'qcow2', ro: false, file: vm.disk('vd0').path });
    expect(vd0?.inserted?.image['virtual-size']).toBe(32 * MiB);

    const scsi0 = byQdev.get('/machine/peripheral/scsi0');
    expect(scsi0?.device).toBe('drive-scsi0');
    expect(scsi0?.inserted).toMatchObject({ drv: 'raw', ro: false, file: vm.disk('scsi0').path });
    expect(scsi0?.inserted?.image['virtual-size']).toBe(16 * MiB);

    const efi = byQdev.get('/machine/system.flash1');
    expect(efi?.device).toBe('drive-efidisk0');
    expect(efi?.inserted?.ro).toBe(false);
    expect(efi?.inserted?.image['virtual-size']).toBe(statSync(OVMF_VARS).size);

    // The firmware code is read-only and not one of our disks.
    const code = byQdev.get('/machine/system.flash0');
    expect(code?.inserted).toMatchObject({ ro: true, file: OVMF_CODE });

    // The lab's description of each disk agrees with QEMU's.
    for (const disk of vm.disks) {
      expect(byQdev.get(disk.qdevPath)?.inserted?.image['virtual-size']).toBe(disk.sizeBytes);
      expect(await imageVirtualSize(disk.path, { format: disk.format })).toBe(disk.sizeBytes);
    }
  });

  it('starts a VM with paused: true in prelaunch and the others running', async () => {
    expect((await lab().vm('lab-paused').qmp((qmp) => qmp.execute('query-status'))).status).toBe('prelaunch');
    expect((await lab().vm('lab-vm').qmp((qmp) => qmp.execute('query-status'))).status).toBe('running');
  });

  it.each([
    { vmName: 'lab-vm', diskId: 'vd0' },
    { vmName: 'lab-vm', diskId: 'scsi0' },
    { vmName: 'lab-paused', diskId: 'vd0' },
  ])('reads back from the guest what the guest wrote ($vmName $diskId)', async ({ vmName, diskId }) => {
    const vm = lab().vm(vmName);
    await guestWrite(vm, diskId, { offset: 0, length: 4 * MiB, pattern: 0x22 });
    await guestRead(vm, diskId, { offset: 0, length: 4 * MiB, pattern: 0x22 });
    expect(await guestPatternMatches(vm, diskId, { offset: 0, length: 4 * MiB, pattern: 0x22 })).toBe(true);
    expect(await guestPatternMatches(vm, diskId, { offset: 0, length: 4 * MiB, pattern: 0x23 })).toBe(false);
    // One differing byte at the end of the range is enough to fail the check.
    await guestWrite(vm, diskId, { offset: 4 * MiB - 1, length: 1, pattern: 0x99 });
    expect(await guestPatternMatches(vm, diskId, { offset: 0, length: 4 * MiB, pattern: 0x22 })).toBe(false);
    await expect(guestRead(vm, diskId, { offset: 0, length: 4 * MiB, pattern: 0x22 })).rejects.toThrow(
      GuestPatternMismatchError,
    );
  });

  it.each([
    { diskId: 'vd0', pattern: 0x5a },
    { diskId: 'scsi0', pattern: 0x5b },
  ])('puts guest writes into the image file ($diskId)', async ({ diskId, pattern }) => {
    const vm = lab().vm('lab-vm');
    const disk = vm.disk(diskId);
    const written = { offset: 8 * MiB, length: 2 * MiB, pattern };
    await guestWrite(vm, diskId, written);
    // Without a flush a qcow2's new clusters are not yet mapped on disk (cached L2 tables).
    await guestFlush(vm, diskId);
    expect(await imagePatternMatches(disk.path, written, { format: disk.format })).toBe(true);
    expect(await imagePatternMatches(disk.path, { ...written, pattern: pattern + 1 }, { format: disk.format })).toBe(false);
    // Never written: zeros, and not the pattern.
    const untouched = { offset: 12 * MiB, length: MiB };
    expect(await imagePatternMatches(disk.path, { ...untouched, pattern: 0 }, { format: disk.format })).toBe(true);
    expect(await imagePatternMatches(disk.path, { ...untouched, pattern }, { format: disk.format })).toBe(false);
  });

  it.each([{ diskId: 'vd0' }, { diskId: 'scsi0' }])(
    'does guest I/O through the device, so a copy-before-write filter on it sees the writes ($diskId)',
    async ({ diskId }) => {
      // A write addressed to a node name would bypass the filter and copy nothing.
      const vm = lab().vm('lab-vm');
      const disk = vm.disk(diskId);
      const range = { offset: 14 * MiB, length: MiB, pattern: 0x11 };
      const fleecePath = join(vm.dir, `${diskId}-fleece.qcow2`);
      const fleeceNode = `${diskId}-fleece`;
      const cbwNode = `${diskId}-cbw`;
      await guestWrite(vm, diskId, range);
      execFileSync(qemuBinaries().qemuImg, ['create', '-q', '-f', 'qcow2', fleecePath, String(disk.sizeBytes)]);
      const source = await vm.qmp(async (qmp) => {
        const blocks = await qmp.execute('query-block');
        const src = blocks.find((b) => qdevOf(b) === disk.qdevPath)?.inserted?.['node-name'];
        if (src === undefined) throw new Error(`no node under ${disk.qdevPath}`);
        await qmp.execute('blockdev-add', { driver: 'qcow2', 'node-name': fleeceNode, file: { driver: 'file', filename: fleecePath } });
        await qmp.execute('blockdev-add', { driver: 'copy-before-write', 'node-name': cbwNode, file: src, target: fleeceNode });
        await qmp.execute('qom-set', { path: disk.qdevPath, property: 'drive', value: cbwNode });
        return src;
      });
      try {
        await guestWrite(vm, diskId, { ...range, pattern: 0x77 });
        await guestRead(vm, diskId, { ...range, pattern: 0x77 });
      } finally {
        // The recipe's teardown order: the device back on its node first, then the filter.
        await vm.qmp(async (qmp) => {
          await qmp.execute('qom-set', { path: disk.qdevPath, property: 'drive', value: source });
          await qmp.execute('blockdev-del', { 'node-name': cbwNode });
          await qmp.execute('blockdev-del', { 'node-name': fleeceNode });
        });
      }
      // The filter copied the old data aside before the guest's write replaced it.
      expect(await imagePatternMatches(fleecePath, range, { format: 'qcow2' })).toBe(true);
      await guestFlush(vm, diskId);
      expect(await imagePatternMatches(disk.path, { ...range, pattern: 0x77 }, { format: disk.format })).toBe(true);
    },
  );

  it('reads the UEFI vars through their pflash device', async () => {
    const vm = lab().vm('lab-vm');
    // A firmware volume starts with a 16-byte zero vector; OVMF never rewrites it.
    expect(await guestPatternMatches(vm, 'efidisk0', { offset: 0, length: 16, pattern: 0 })).toBe(true);
    expect(await guestPatternMatches(vm, 'efidisk0', { offset: 0, length: 16, pattern: 0xff })).toBe(false);
  });

  it('refuses guest I/O past the end of a disk and on unknown disks, with clear errors', async () => {
    const vm = lab().vm('lab-vm');
    await expect(guestWrite(vm, 'vd0', { offset: 32 * MiB - 512, length: 1024, pattern: 1 })).rejects.toThrow(/ends past the disk/);
    await expect(guestRead(vm, 'nope', { offset: 0, length: 512, pattern: 0 })).rejects.toThrow(/has no disk "nope"/);
    await expect(guestRead(vm, 'vd0', { offset: 0, length: 512, pattern: 256 })).rejects.toThrow(/bad pattern/);
  });

  it('quotes HMP arguments so they arrive as one argument each', async () => {
    expect(hmpQuote('/machine/peripheral/vd0/virtio-backend')).toBe('"/machine/peripheral/vd0/virtio-backend"');
    expect(hmpQuote('a "b" \\c')).toBe('"a \\"b\\" \\\\c"');
    expect(() => hmpQuote('x\ny')).toThrow(/control character/);
    // A device name with spaces, quotes and a backslash comes back intact in QEMU's error.
    const odd = 'no such "dev" \\x';
    const reply = await lab()
      .vm('lab-vm')
      .qmp((qmp) => qmp.execute('human-monitor-command', { 'command-line': `qemu-io -d ${hmpQuote(odd)} ${hmpQuote('read 0 512')}` }));
    expect(reply).toContain(`Device '${odd}' not found`);
  });

  it('lists the block nodes of both -blockdev and -drive disks', async () => {
    const vm = lab().vm('lab-vm');
    const nodes = await listBlockNodes(vm);
    expect(nodes).toEqual(expect.arrayContaining(['vd0-fmt', 'vd0-file']));
    const blocks = await vm.qmp((qmp) => qmp.execute('query-block'));
    const scsiNode = blocks.find((b) => b.device === 'drive-scsi0')?.inserted?.['node-name'];
    expect(scsiNode).toMatch(/^#block\d+$/);
    expect(nodes).toContain(scsiNode);
  });

  it('offers the guest-agent socket as QEMU chardev qga0', async () => {
    const vm = lab().vm('lab-vm');
    expect(vm.qgaSocket).toBe(join(vm.dir, 'lab-vm.qga'));
    const chardevs = await vm.qmp((qmp) => qmp.execute('query-chardev'));
    expect(chardevs).toEqual(
      expect.arrayContaining([expect.objectContaining({ label: 'qga0', filename: expect.stringContaining(vm.qgaSocket ?? '?') })]),
    );
    await new Promise<void>((resolve, reject) => {
      const socket = connect(vm.qgaSocket ?? '');
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', reject);
    });
    expect(lab().vm('lab-paused').qgaSocket).toBeUndefined();
  });
});

describe('lab host: sshd', () => {
  let lab: LabHost;
  let noForwarding: LabSshd;

  beforeAll(async () => {
    [lab, noForwarding] = await Promise.all([
      startLabHost({ vms: [{ name: 'ssh-vm', paused: true, disks: [{ id: 'vd0', bus: 'virtio', sizeBytes: MiB }] }] }),
      startSshd({ allowStreamLocalForwarding: false }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([lab?.stop(), noForwarding?.stop()]);
  });

  it('serves SSH on 127.0.0.1 at its port', async () => {
    expect(lab.sshd.host).toBe('127.0.0.1');
    expect(await firstLine(lab.sshd.port)).toMatch(/^SSH-2\.0-OpenSSH/);
  });

  it('describes its host key as OpenSSH writes it', () => {
    const sshd = lab.sshd;
    const pub = readFileSync(`${sshd.hostKeyPath}.pub`, 'utf8').split(' ').slice(0, 2).join(' ');
    expect(sshd.hostPublicKey).toBe(pub);
    expect(sshd.hostPublicKey).toMatch(/^ssh-ed25519 AAAA\S+$/);
    expect(sshd.knownHostsLine()).toBe(`[127.0.0.1]:${sshd.port} ${pub}`);
  });

  it('lets root in with the client key, checking the host key', async () => {
    const sshd = lab.sshd;
    const knownHosts = join(lab.dir, 'kh-good');
    writeFileSync(knownHosts, `${sshd.knownHostsLine()}\n`);
    const ok = await ssh(sshd, { key: sshd.clientKeyPath, knownHosts }, ['true']);
    expect(ok, ok.output).toMatchObject({ code: 0 });
    const id = await ssh(sshd, { key: sshd.clientKeyPath, knownHosts }, ['id', '-u']);
    expect(id.output.trim()).toBe('0');

    // Another host key in known_hosts: the client must refuse (so the check above is real).
    const other = generateClientKey(lab.dir, { name: 'not-the-host-key' });
    const badKnownHosts = join(lab.dir, 'kh-bad');
    writeFileSync(badKnownHosts, `[127.0.0.1]:${sshd.port} ${other.publicKeyLine}\n`);
    const refused = await ssh(sshd, { key: sshd.clientKeyPath, knownHosts: badKnownHosts }, ['true']);
    expect(refused.code).toBe(255);
    expect(refused.output).toMatch(/HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
  });

  it('accepts a new key only once it is authorized', async () => {
    const sshd = lab.sshd;
    const knownHosts = await sshd.writeKnownHosts(join(lab.dir, 'kh-new-key'));
    const key = generateClientKey(lab.dir, { type: 'rsa' });
    expect(key.publicKeyLine).toMatch(/^ssh-rsa /);
    const before = await ssh(sshd, { key: key.privateKeyPath, knownHosts }, ['true']);
    expect(before.code).toBe(255);
    expect(before.output).toMatch(/Permission denied/);
    sshd.addAuthorizedKey(key.publicKeyLine);
    const after = await ssh(sshd, { key: key.privateKeyPath, knownHosts }, ['true']);
    expect(after, after.output).toMatchObject({ code: 0 });
  });

  it('makes passphrase-protected keys that open only with their passphrase', () => {
    const key = generateClientKey(lab.dir, { passphrase: 'correct horse' });
    const sshKeygen = requireTool('ssh-keygen', 'openssh-client');
    // ssh-keygen -y derives the public key, which needs the private key decrypted.
    const derive = (passphrase: string) => execFileSync(sshKeygen, ['-y', '-P', passphrase, '-f', key.privateKeyPath], { stdio: 'pipe' });
    expect(derive('correct horse').toString().trim()).toBe(key.publicKeyLine);
    expect(() => derive('')).toThrow();
    expect(() => derive('wrong')).toThrow();
  });

  it.each([
    { allowed: true },
    { allowed: false },
  ])('forwards a unix socket to the QMP monitor only if allowed ($allowed)', async ({ allowed }) => {
    const sshd = allowed ? lab.sshd : noForwarding;
    const vm = lab.vm('ssh-vm');
    const knownHosts = await sshd.writeKnownHosts();
    const local = join(lab.dir, `fwd-${String(allowed)}.sock`);
    const forward = runSsh(sshd, { key: sshd.clientKeyPath, knownHosts, extra: ['-N', '-o', 'ExitOnForwardFailure=yes', '-L', `${local}:${vm.qmpSocket}`] }, []);
    const forwardExit = exitOf(forward);
    try {
      await waitUntil('the forwarded socket exists', () => existsSync(local));
      const attempt = QmpClient.connect(connect(local), { label: 'forwarded', greetingTimeoutMs: 5_000 });
      if (allowed) {
        const qmp = await attempt;
        expect((await qmp.execute('query-status')).status).toBe('prelaunch');
        await qmp.close();
      } else {
        // sshd refuses the channel; the client then drops the local connection.
        await expect(attempt).rejects.toThrow(QmpClosedError);
      }
    } finally {
      forward.kill('SIGTERM');
      await forwardExit;
    }
  });
});

describe('lab host: teardown', () => {
  it('stops its processes and SSH sessions by PID, removes its dir, and can be called twice', async () => {
    const t0 = Date.now();
    const lab = await startLabHost({
      vms: [{ name: 'teardown-vm', disks: [{ id: 'vd0', bus: 'virtio', sizeBytes: MiB }] }],
    });
    const startMs = Date.now() - t0;
    const vm = lab.vm('teardown-vm');
    // An SSH session that would run for minutes: teardown must end it too.
    const knownHosts = await lab.sshd.writeKnownHosts();
    const session = runSsh(lab.sshd, { key: lab.sshd.clientKeyPath, knownHosts }, ['sleep', '300']);
    const sessionExit = exitOf(session);
    await waitUntil('the SSH session runs sleep', () => descendantsOf(lab.sshd.pid).some((p) => cmdlineOf(p.pid).startsWith('sleep')));
    const sessionProcs = descendantsOf(lab.sshd.pid);
    expect(sessionProcs.length).toBeGreaterThan(0);
    expect(pidAlive(vm.pid) && pidAlive(lab.sshd.pid)).toBe(true);

    const t1 = Date.now();
    await lab.stop();
    const stopMs = Date.now() - t1;

    expect(pidAlive(vm.pid)).toBe(false);
    expect(pidAlive(lab.sshd.pid)).toBe(false);
    expect(sessionProcs.filter(isAlive)).toEqual([]);
    expect((await sessionExit).code).toBe(255); // the client saw its connection closed
    expect(await pathExists(lab.dir)).toBe(false);
    await expect(lab.stop()).resolves.toBeUndefined();
    // Generous bounds: they catch a teardown that waits out its SIGKILL grace period.
    expect(startMs).toBeLessThan(15_000);
    expect(stopMs).toBeLessThan(2_500);
  });

  it('stops what started and removes its dir when one VM fails to start', async () => {
    const tag = `fail${process.pid}x${Date.now().toString(36)}`;
    const prefix = `shear-lab-${tag}-`;
    const start = startLabHost({
      dirPrefix: prefix,
      vms: [
        { name: `${tag}-good`, disks: [{ id: 'vd0', bus: 'virtio', sizeBytes: MiB }] },
        { name: `${tag}-bad`, disks: [], extraArgs: ['-device', 'no-such-device-model'] },
      ],
    });
    await expect(start).rejects.toThrow(/no-such-device-model/);
    expect(readdirSync(tmpdir()).filter((e) => e.startsWith(prefix))).toEqual([]);
    expect(qemuPidsNamed(`${tag}-good`)).toEqual([]);
    expect(qemuPidsNamed(`${tag}-bad`)).toEqual([]);
  });

  it('rejects a bad spec before starting anything', async () => {
    await expect(startLabHost({ vms: [{ name: 'x', disks: [{ id: 'vd0', bus: 'virtio', sizeBytes: 1000 }] }] })).rejects.toThrow(
      /multiple of 512/,
    );
    await expect(
      startLabHost({ vms: [{ name: 'x', disks: [{ id: 'a', bus: 'efivars' }, { id: 'b', bus: 'efivars' }] }] }),
    ).rejects.toThrow(/at most one efivars/);
  });

  /** Runs the abandon fixture; resolves with what it printed once its lab is up. */
  async function abandonLab(mode: 'exit' | 'hang'): Promise<{ child: ChildProcess; dir: string; pids: number[] }> {
    const fixture = fileURLToPath(new URL('../lab/fixtures/abandon-lab.ts', import.meta.url));
    // From the project root, where `--import tsx` resolves.
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, mode], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    if (!child.stdout) throw new Error('no stdout pipe');
    const lines = createInterface({ input: child.stdout });
    const first = await new Promise<string>((resolve, reject) => {
      lines.once('line', resolve);
      child.once('exit', (code) => reject(new Error(`abandon-lab.ts exited with ${String(code)} before its lab was up`)));
    });
    const info = JSON.parse(first) as { dir: string; pids: number[] };
    expect(info.pids).toHaveLength(2);
    return { child, ...info };
  }

  it('kills its processes and removes its dir when Node exits without stop()', async () => {
    const { child, dir, pids } = await abandonLab('exit');
    await new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve)));
    await waitUntil('the abandoned processes are gone', () => pids.every((pid) => !pidAlive(pid)), 5_000);
    expect(await pathExists(dir)).toBe(false);
  });

  it('kills its processes when Node is SIGKILLed (pdeathsig)', async () => {
    const { child, dir, pids } = await abandonLab('hang');
    expect(pids.every(pidAlive)).toBe(true);
    child.kill('SIGKILL');
    try {
      await waitUntil('the abandoned processes are gone', () => pids.every((pid) => !pidAlive(pid)), 5_000);
    } finally {
      // No JavaScript ran in the killed process, so its temp dir is left: ours to remove.
      await rm(dir, { recursive: true, force: true });
    }
  });
});
