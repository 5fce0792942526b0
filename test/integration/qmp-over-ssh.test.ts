import { mkdtemp, rm } from 'node:fs/promises';
import { connect as netConnect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeCapabilities } from '../../electron/engine/qmp/capabilities.js';
import { QmpClient, QmpClosedError, QmpCommandError } from '../../electron/engine/qmp/client.js';
import { LineSplitter } from '../../electron/engine/qmp/framing.js';
import { withQmp } from '../../electron/engine/qmp/session.js';
import type { QmpEvent } from '../../electron/engine/qmp/types.js';
import type { SshConnection } from '../../electron/engine/ssh/connect.js';
import { sshQmpTransport } from '../../electron/engine/ssh/qmp-transport.js';
import { openUnixSocket } from '../../electron/engine/ssh/tunnel.js';
import { startLabHost, type LabHost } from '../lab/lab-host.js';
import { startSshd, type LabSshd } from '../lab/sshd.js';
import type { LabVm } from '../lab/qemu.js';
import { connectToLab } from '../support/ssh-session.js';

let lab: LabHost;
let vm: LabVm;
let noForwardSshd: LabSshd;
let conn: SshConnection;
let connLines: Array<{ message: string }>;
let socatConn: SshConnection;
let socatLines: Array<{ message: string }>;

beforeAll(async () => {
  lab = await startLabHost({
    vms: [
      {
        name: 'qmp-test',
        disks: [
          { id: 'vd0', bus: 'virtio', format: 'qcow2', sizeBytes: 32 * 1024 * 1024 },
          { id: 'scsi0', bus: 'scsi', format: 'raw', sizeBytes: 16 * 1024 * 1024 },
        ],
      },
    ],
  });
  vm = lab.vm('qmp-test');
  noForwardSshd = await startSshd({ allowStreamLocalForwarding: false });
  ({ conn, lines: connLines } = await connectToLab(lab.sshd));
  ({ conn: socatConn, lines: socatLines } = await connectToLab(noForwardSshd));
});

afterAll(async () => {
  conn?.close();
  socatConn?.close();
  await noForwardSshd?.stop();
  await lab?.stop();
});

describe('QMP through the SSH tunnel', () => {
  it('runs query-version and query-block through stream-local forwarding', async () => {
    const transport = sshQmpTransport(conn);
    const { version, blocks } = await withQmp(transport, vm.qmpSocket, async (qmp) => ({
      version: await qmp.execute('query-version'),
      blocks: await qmp.execute('query-block'),
    }));
    expect(version.qemu.major).toBeGreaterThanOrEqual(7);
    const byDevice = new Map(blocks.map((b) => [b.qdev ?? b.device, b]));
    const vd0 = [...byDevice.values()].find((b) => (b.qdev ?? '').includes('vd0'));
    const scsi0 = blocks.find((b) => b.device === 'drive-scsi0');
    expect(vd0?.inserted?.image['virtual-size']).toBe(32 * 1024 * 1024);
    expect(scsi0?.inserted?.image['virtual-size']).toBe(16 * 1024 * 1024);
    expect(connLines.some((l) => /stream-local forwarding/.test(l.message))).toBe(true);
    expect(connLines.some((l) => /socat/.test(l.message))).toBe(false);
  });

  it('falls back to socat when the server refuses stream-local forwarding, and says so', async () => {
    const tunnel = await openUnixSocket(socatConn, vm.qmpSocket);
    expect(tunnel.kind).toBe('socat');
    const qmp = await QmpClient.connect(tunnel.stream, { label: 'socat-test' });
    try {
      const version = await qmp.execute('query-version');
      expect(version.qemu.major).toBeGreaterThanOrEqual(7);
    } finally {
      await qmp.close();
    }
    // A second session through the same connection goes straight to socat.
    const status = await withQmp(sshQmpTransport(socatConn), vm.qmpSocket, (q) => q.execute('query-status'));
    expect(status.status).toMatch(/running|prelaunch|paused/);
    expect(socatLines.filter((l) => /relaying unix sockets through socat/.test(l.message))).toHaveLength(1);
  });

  it('names the socket and the host when the QMP socket is missing', async () => {
    for (const c of [conn, socatConn]) {
      const missing = `${vm.dir}/no-such-vm.qmp`;
      const err = await withQmp(sshQmpTransport(c), missing, (q) => q.execute('query-version')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toContain(missing);
      expect((err as Error).message).toContain(c.label);
    }
  });

  it('keeps sessions short: another client on the same socket is served within a second while Shear polls', async () => {
    const transport = sshQmpTransport(conn);
    let polling = true;
    let polls = 0;
    const poller = (async () => {
      while (polling) {
        await withQmp(transport, vm.qmpSocket, (q) => q.execute('query-jobs'));
        polls++;
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    try {
      await new Promise((r) => setTimeout(r, 300));
      for (let i = 0; i < 3; i++) {
        const started = Date.now();
        const other = await QmpClient.connect(netConnect(vm.qmpSocket), { label: 'other-tool', greetingTimeoutMs: 1_000 });
        const waited = Date.now() - started;
        expect((await other.execute('query-status')).status).toBeTruthy();
        await other.close();
        expect(waited).toBeLessThan(1_000);
      }
    } finally {
      polling = false;
      await poller;
    }
    expect(polls).toBeGreaterThan(3);
  });

  it('turns QEMU errors into typed errors and rejects pending commands when the connection ends', async () => {
    const tunnel = await openUnixSocket(conn, vm.qmpSocket);
    const qmp = await QmpClient.connect(tunnel.stream, { label: 'errors-test' });
    const err = await qmp.execute('no-such-command').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QmpCommandError);
    expect((err as QmpCommandError).errorClass).toBe('CommandNotFound');
    const pending = qmp.execute('query-qmp-schema');
    tunnel.stream.destroy();
    expect(await pending.catch((e: unknown) => e)).toBeInstanceOf(QmpClosedError);
    expect(await qmp.execute('query-status').catch((e: unknown) => e)).toBeInstanceOf(QmpClosedError);
  });

  it('delivers typed events (STOP/RESUME) during a session', async () => {
    const events: QmpEvent[] = [];
    const before = await withQmp(sshQmpTransport(conn), vm.qmpSocket, async (qmp) => {
      const off = qmp.onEvent((e) => events.push(e));
      const status = await qmp.execute('query-status');
      await qmp.execute('stop');
      await qmp.execute('cont');
      await new Promise((r) => setTimeout(r, 200));
      off();
      return status;
    });
    expect(before.status).toBe('running');
    expect(events.map((e) => e.event)).toEqual(expect.arrayContaining(['STOP', 'RESUME']));
    expect(events[0]?.timestamp.seconds).toBeGreaterThan(0);
  });

  it('skips what QEMU still owed an earlier client, before or after the greeting, and never takes it as its own reply', async () => {
    // A real earlier session on this QEMU: its reply to query-kvm and the STOP/RESUME events it caused.
    const earlier = await rawQmpLines(vm.qmpSocket, [
      '{"execute": "qmp_capabilities"}',
      '{"execute": "query-kvm", "id": "shear-0a0b0c0d-2"}',
      '{"execute": "stop"}',
      '{"execute": "cont"}',
    ], (lines) => lines.some((l) => l.includes('"RESUME"')));
    const owed = earlier.filter((l) => l.includes('shear-0a0b0c0d-2') || l.includes('"event"'));
    expect(owed.length).toBeGreaterThanOrEqual(3);
    // QEMU writes such output to whoever is connected when it is ready: replay it around the greeting.
    const dir = await mkdtemp(join(tmpdir(), 'shear-relay-'));
    const relayPath = join(dir, 'relay.sock');
    const relay = createServer((client) => {
      const upstream = netConnect(vm.qmpSocket);
      client.write(owed.map((l) => `${l}\r\n`).join(''));
      let greeted = false;
      upstream.on('data', (chunk: Buffer) => {
        client.write(chunk);
        if (!greeted && chunk.includes(0x0a)) {
          greeted = true;
          client.write(owed.map((l) => `${l}\r\n`).join(''));
        }
      });
      client.pipe(upstream);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => relay.listen(relayPath, resolve));
    const debug: string[] = [];
    try {
      const qmp = await QmpClient.connect(netConnect(relayPath), {
        label: 'relay',
        log: (level, message) => {
          if (level === 'debug') debug.push(message);
        },
      });
      try {
        const status = await qmp.execute('query-status');
        expect(status.status).toBe('running');
        expect(await qmp.execute('query-kvm')).toMatchObject({ present: expect.any(Boolean) });
      } finally {
        await qmp.close();
      }
    } finally {
      await new Promise((resolve) => relay.close(resolve));
      await rm(dir, { recursive: true, force: true });
    }
    expect(debug.filter((m) => /left from an earlier monitor session/.test(m))).toHaveLength(owed.length);
  });

  it('probes fleecing capabilities from the QMP schema', async () => {
    const { caps, version } = await withQmp(sshQmpTransport(conn), vm.qmpSocket, async (qmp) => ({
      caps: await probeCapabilities(qmp),
      version: await qmp.execute('query-version'),
    }));
    // Both QEMUs in CI (7.2 and 10.0) can fleece; discard-source arrived in 9.1.
    expect(caps).toMatchObject({
      blockdevBackup: true,
      copyBeforeWrite: true,
      snapshotAccess: true,
      cbwTimeout: true,
      onCbwError: true,
      qomSetDrive: true,
      fleecing: true,
      // Debian's builds of both link liburing; x-perf arrived in 6.0.
      ioUring: true,
      backupMaxWorkers: true,
    });
    const v = version.qemu;
    expect(caps.discardSource).toBe(v.major > 9 || (v.major === 9 && v.minor >= 1));
  });
});

/** Speaks QMP by hand on a local socket and returns every line QEMU sent until `done`. */
async function rawQmpLines(socket: string, commands: string[], done: (lines: string[]) => boolean): Promise<string[]> {
  const stream = netConnect(socket);
  const splitter = new LineSplitter();
  const lines: string[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer on ${socket}: ${lines.join(' | ')}`)), 10_000);
      stream.on('error', reject);
      stream.on('data', (chunk: Buffer) => {
        const fresh = splitter.push(chunk);
        if (lines.length === 0 && fresh.length > 0) stream.write(commands.map((c) => `${c}\n`).join(''));
        lines.push(...fresh);
        if (done(lines)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  } finally {
    stream.destroy();
  }
  return lines;
}
