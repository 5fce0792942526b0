/**
 * Discovery and inspection on the lab host over SSH: real sshd, real QEMU processes, the same
 * code paths as on a customer's host. Set SHEAR_RECORD_QMP_DIR to also write the raw replies
 * (to refresh the recorded ones in test/unit/vm-inspect.test.ts).
 */
import { mkdir, mkdtemp, readlink, rm, writeFile } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareNatural, listVms } from '../../electron/engine/hosts/discovery.js';
import { SshHostSession } from '../../electron/engine/hosts/host-session.js';
import { deviceTypes, disksFromQueryBlock, inspectVm, MONITOR_GREETING_TIMEOUT_MS } from '../../electron/engine/hosts/vm-inspect.js';
import { QmpClient } from '../../electron/engine/qmp/client.js';
import { withQmp } from '../../electron/engine/qmp/session.js';
import type { VmSummary } from '../../shared/model.js';
import { startLabHost, type LabHost } from '../lab/lab-host.js';
import { spawnLabProcess, type LabProcess } from '../lab/processes.js';
import { qemuBinaries, type LabVm } from '../lab/qemu.js';
import { sleep } from '../lab/tools.js';
import { qemuOptValue } from '../lab/vm-spec.js';
import { connectToLab } from '../support/ssh-session.js';

const MiB = 1024 * 1024;

let lab: LabHost;
let host: SshHostSession;
let hostLines: Array<{ level: string; message: string }>;
let extraDir: string;
let mon2: string;
let vms: VmSummary[];

beforeAll(async () => {
  // The second monitor's socket must be named before the lab (and its temp dir) exists.
  extraDir = await mkdtemp(join(tmpdir(), 'shear-disc-'));
  mon2 = join(extraDir, 'mon2.sock');
  lab = await startLabHost({
    vms: [
      {
        name: 'disc-a',
        guestAgent: true,
        disks: [
          { id: 'vd0', bus: 'virtio', format: 'qcow2', sizeBytes: 32 * MiB },
          { id: 'scsi0', bus: 'scsi', format: 'raw', sizeBytes: 64 * MiB + 512 },
          { id: 'efidisk0', bus: 'efivars' },
        ],
      },
      { name: 'disc-b', paused: true, disks: [{ id: 'vd0', bus: 'virtio', format: 'qcow2', sizeBytes: 16 * MiB }] },
      {
        name: 'disc-c',
        paused: true,
        disks: [{ id: 'scsi0', bus: 'scsi', format: 'raw', sizeBytes: 8 * MiB }],
        extraArgs: ['-chardev', `socket,id=mon2,path=${mon2},server=on,wait=off`, '-mon', 'chardev=mon2,mode=control'],
      },
    ],
  });
  const sshd = lab.sshd;
  const first = await connectToLab(sshd);
  hostLines = first.lines;
  host = new SshHostSession(first.conn, () => connectToLab(sshd).then((r) => r.conn));
  vms = await listVms(host);
});

afterAll(async () => {
  host?.close();
  await lab?.stop();
  if (extraDir) await rm(extraDir, { recursive: true, force: true });
});

/** The summary listVms gave for a lab VM (other QEMUs may run on this machine too). */
function summaryOf(vm: LabVm): VmSummary {
  const found = vms.filter((v) => v.pid === vm.pid);
  expect(found).toHaveLength(1);
  return found[0] as VmSummary;
}

/** Holds a monitor the way another tool would: connected and greeted, until released. */
async function holdMonitor(socket: string): Promise<QmpClient> {
  return QmpClient.connect(netConnect(socket), { label: `holder ${socket}`, greetingTimeoutMs: 10_000 });
}

describe('listVms over SSH', () => {
  it('finds the lab VMs with their names, QMP sockets in order, agent socket and full argv', () => {
    const a = lab.vm('disc-a');
    const b = lab.vm('disc-b');
    const c = lab.vm('disc-c');
    expect(summaryOf(a)).toMatchObject({ id: 'disc-a', name: 'disc-a', qmpSockets: [a.qmpSocket], guestAgentSocket: a.qgaSocket });
    expect(summaryOf(b)).toMatchObject({ id: 'disc-b', name: 'disc-b', qmpSockets: [b.qmpSocket], guestAgentSocket: null });
    expect(summaryOf(c)).toMatchObject({ id: 'disc-c', name: 'disc-c', qmpSockets: [c.qmpSocket, mon2], guestAgentSocket: null });
    const argv = summaryOf(a).argv;
    expect(argv).toContain('-name');
    expect(argv[argv.indexOf('-name') + 1]).toBe('disc-a');
    expect(argv).toContain(`unix:${a.qmpSocket},server=on,wait=off`);
  });

  it('returns the list sorted by name and ids unique', () => {
    const names = vms.map((v) => v.name);
    expect([...names].sort(compareNatural)).toEqual(names);
    const ours = names.filter((n) => n.startsWith('disc-'));
    expect(ours).toEqual(['disc-a', 'disc-b', 'disc-c']);
    expect(new Set(vms.map((v) => v.id)).size).toBe(vms.length);
  });

  it('skips a QEMU whose only monitor is a client socket (qmeventd style), logs it at debug; lists same-named VMs as name@pid; survives odd names and paths', async () => {
    const { qemu } = qemuBinaries();
    const oddDir = join(extraDir, 'odd dir,x');
    await mkdir(oddDir);
    const base = ['-machine', 'none', '-nodefaults', '-display', 'none', '-S'];
    const specs: Array<[string, string[]]> = [
      ['noqmp', [...base, '-name', 'disc-noqmp', '-chardev', `socket,id=ev,path=${join(extraDir, 'ev.sock')},reconnect=5`, '-mon', 'chardev=ev,mode=control']],
      ['dup1', [...base, '-name', 'disc-dup', '-qmp', `unix:${join(extraDir, 'dup1.qmp')},server=on,wait=off`]],
      ['dup2', [...base, '-name', 'disc-dup', '-qmp', `unix:${join(extraDir, 'dup2.qmp')},server=on,wait=off`]],
      ['odd', [...base, '-name', `guest=${qemuOptValue('disc-odd, "name"')},debug-threads=on`, '-qmp', `unix:${qemuOptValue(join(oddDir, 'q.qmp'))},server,nowait`]],
    ];
    const procs: LabProcess[] = [];
    try {
      for (const [label, args] of specs) procs.push(await spawnLabProcess(`disc ${label}`, qemu, args, { logPath: join(extraDir, `${label}.log`) }));
      // Wait until each has exec'd into QEMU (the lab's wrappers exec, keeping the PID).
      for (const p of procs) {
        const deadline = Date.now() + 20_000;
        while (!(await readlink(`/proc/${p.pid}/exe`).catch(() => '')).includes('qemu-system-')) {
          if (Date.now() > deadline || p.exitStatus()) throw new Error(`${p.label} did not start: ${p.logTail()}`);
          await sleep(50);
        }
      }
      const [noqmp, dup1, dup2, odd] = procs as [LabProcess, LabProcess, LabProcess, LabProcess];
      const listed = await listVms(host);
      expect(listed.some((v) => v.pid === noqmp.pid)).toBe(false);
      expect(hostLines.some((l) => l.level === 'debug' && l.message.includes(`QEMU process ${noqmp.pid} (disc-noqmp) has no QMP monitor`))).toBe(true);
      const dups = listed.filter((v) => v.name === 'disc-dup');
      expect(dups.map((v) => v.id).sort()).toEqual([`disc-dup@${dup1.pid}`, `disc-dup@${dup2.pid}`].sort());
      expect(listed.find((v) => v.pid === odd.pid)).toMatchObject({ id: 'disc-odd, "name"', qmpSockets: [join(oddDir, 'q.qmp')] });
      // The odd path is reachable as parsed.
      const status = await withQmp(host.qmp, join(oddDir, 'q.qmp'), (q) => q.execute('query-status'));
      expect(status.status).toBe('prelaunch');
    } finally {
      await Promise.all(procs.map((p) => p.stop({ graceMs: 2_000 })));
    }
  });
});

describe('inspectVm over SSH', () => {
  it('inspects a running VM: version, run state, disks with ids, QOM paths, nodes, formats, exact sizes, roles', async () => {
    const a = lab.vm('disc-a');
    const details = await inspectVm(host, summaryOf(a));
    const v = a.qemuVersion;
    expect(details).toMatchObject({ id: 'disc-a', runState: 'running', qemuVersion: `${v.major}.${v.minor}.${v.micro}` });
    const efi = a.disk('efidisk0');
    expect(details.disks.map((d) => ({ ...d, nodeName: d.nodeName.startsWith('#block') ? '#block' : d.nodeName }))).toEqual([
      {
        device: 'efidisk0',
        qomPath: '/machine/system.flash1',
        blockBackend: 'drive-efidisk0',
        nodeName: '#block',
        format: 'raw',
        sizeBytes: efi.sizeBytes,
        file: efi.path,
        backingFile: null,
        role: 'efivars',
      },
      {
        device: 'scsi0',
        qomPath: '/machine/peripheral/scsi0',
        blockBackend: 'drive-scsi0',
        nodeName: '#block',
        format: 'raw',
        sizeBytes: 64 * MiB + 512,
        file: a.disk('scsi0').path,
        backingFile: null,
        role: 'disk',
      },
      {
        device: 'vd0',
        qomPath: '/machine/peripheral/vd0/virtio-backend',
        blockBackend: '',
        nodeName: 'vd0-fmt',
        format: 'qcow2',
        sizeBytes: 32 * MiB,
        file: a.disk('vd0').path,
        backingFile: null,
        role: 'disk',
      },
    ]);
    // The lab's own idea of each disk agrees (test/lab/vm-spec.ts).
    for (const d of details.disks) {
      const labDisk = a.disk(d.device);
      expect(d.qomPath).toBe(labDisk.qdevPath);
      expect(d.blockBackend).toBe(labDisk.blockBackend ?? '');
      if (labDisk.nodeName !== null) expect(d.nodeName).toBe(labDisk.nodeName);
      expect(d.sizeBytes).toBe(labDisk.sizeBytes);
    }
  });

  it('gives node names and QOM paths that QEMU agrees with (qom-get drive, query-named-block-nodes), and records the replies', async () => {
    const a = lab.vm('disc-a');
    const summary = summaryOf(a);
    const details = await inspectVm(host, summary);
    const live = await withQmp(host.qmp, summary.qmpSockets[0] as string, async (qmp) => {
      const drives: Record<string, unknown> = {};
      for (const d of details.disks) drives[d.device] = await qmp.execute('qom-get', { path: d.qomPath, property: 'drive' });
      return {
        version: await qmp.execute('query-version'),
        block: await qmp.execute('query-block'),
        nodes: await qmp.execute('query-named-block-nodes', { flat: true }),
        drives,
        types: await deviceTypes(qmp, details.disks),
      };
    });
    // The device types the passthrough check reads (a scsi-block would say so here).
    expect(Object.fromEntries(details.disks.map((d, i) => [d.device, live.types[i]]))).toEqual({
      efidisk0: 'cfi.pflash01', scsi0: 'scsi-hd', vd0: 'virtio-blk-device',
    });
    for (const d of details.disks) {
      // -blockdev devices name their node; -drive devices answer with the BlockBackend name.
      expect(live.drives[d.device]).toBe(d.blockBackend !== '' ? d.blockBackend : d.nodeName);
      const node = live.nodes.find((n) => n['node-name'] === d.nodeName);
      expect(node?.image['virtual-size']).toBe(d.sizeBytes);
      expect(node?.drv).toBe(d.format);
    }
    expect(live.block.some((b) => b.device === 'pflash0' && b.inserted?.ro === true)).toBe(true);
    expect(disksFromQueryBlock(live.block, live.nodes)).toEqual(details.disks);
    const recordDir = process.env.SHEAR_RECORD_QMP_DIR;
    if (recordDir) {
      const v = live.version.qemu;
      await writeFile(join(recordDir, `disc-a-qemu${v.major}.${v.minor}.json`), `${JSON.stringify(live, null, 1)}\n`);
    }
  });

  it('inspects a paused (-S) VM: prelaunch, its one disk', async () => {
    const details = await inspectVm(host, summaryOf(lab.vm('disc-b')));
    expect(details.runState).toBe('prelaunch');
    expect(details.disks).toHaveLength(1);
    expect(details.disks[0]).toMatchObject({ device: 'vd0', nodeName: 'vd0-fmt', format: 'qcow2', sizeBytes: 16 * MiB, role: 'disk' });
  });

  it('goes through the second monitor when another client holds the first', async () => {
    const c = lab.vm('disc-c');
    const holder = await holdMonitor(c.qmpSocket);
    try {
      const started = Date.now();
      const details = await inspectVm(host, summaryOf(c));
      const took = Date.now() - started;
      expect(details.runState).toBe('prelaunch');
      expect(details.disks.map((d) => [d.device, d.sizeBytes])).toEqual([['scsi0', 8 * MiB]]);
      expect(took).toBeGreaterThanOrEqual(MONITOR_GREETING_TIMEOUT_MS - 50);
      expect(hostLines.some((l) => l.message.includes(`QMP monitor ${c.qmpSocket} of disc-c is busy; trying the next one`))).toBe(true);
      // The holder still has its session.
      expect((await holder.execute('query-status')).status).toBe('prelaunch');
    } finally {
      await holder.close();
    }
    // Released: the first monitor serves again.
    expect((await inspectVm(host, summaryOf(c))).runState).toBe('prelaunch');
  });

  it('says that every monitor is busy when all are held', async () => {
    const c = lab.vm('disc-c');
    const holders = [await holdMonitor(c.qmpSocket), await holdMonitor(mon2)];
    try {
      const started = Date.now();
      const err = await inspectVm(host, summaryOf(c), { lastGreetingTimeoutMs: 3_000 }).catch((e: unknown) => e);
      // 2 s for the first socket, 3 s for the last: nothing after it to try.
      expect(Date.now() - started).toBeGreaterThanOrEqual(MONITOR_GREETING_TIMEOUT_MS + 3_000 - 100);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(/all 2 QMP monitors of VM disc-c are busy/);
      expect((err as Error).message).toContain(mon2);
    } finally {
      await Promise.all(holders.map((h) => h.close()));
    }
  });

  it('waits longer on the only socket: a short session of another tool is waited out', async () => {
    const b = lab.vm('disc-b');
    const holder = await holdMonitor(b.qmpSocket);
    const released = new Promise((r) => setTimeout(r, 1_000)).then(() => holder.close());
    const started = Date.now();
    try {
      expect((await inspectVm(host, summaryOf(b))).runState).toBe('prelaunch');
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    } finally {
      await released;
    }
    const again = await holdMonitor(b.qmpSocket);
    try {
      const err = await inspectVm(host, summaryOf(b), { lastGreetingTimeoutMs: 500 }).catch((e: unknown) => e);
      expect((err as Error).message).toMatch(/the QMP monitor of VM disc-b is busy: another client holds it/);
    } finally {
      await again.close();
    }
  });

  it('passes over a socket that is gone and names it if none answers', async () => {
    const b = summaryOf(lab.vm('disc-b'));
    const missing = join(extraDir, 'gone.qmp');
    const details = await inspectVm(host, { ...b, qmpSockets: [missing, ...b.qmpSockets] });
    expect(details.runState).toBe('prelaunch');
    const err = await inspectVm(host, { ...b, qmpSockets: [missing] }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/no QMP monitor of VM disc-b answered/);
    expect((err as Error).message).toContain(missing);
  });
});
