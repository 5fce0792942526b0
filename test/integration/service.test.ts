import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { validateRequest, type EventMap, type HostKeyPrompt, type RunSnapshot } from '../../shared/contract.js';
import { MemorySecretStore } from '../../electron/engine/app/host-store.js';
import { ShearService } from '../../electron/engine/api.js';
import { startWebServer, type WebServer } from '../../electron/web/server.js';
import { startLabHost, type LabHost } from '../lab/lab-host.js';
import { labFolder, MiB } from '../support/backup-harness.js';

/**
 * The one API object against the lab host, as the desktop and browser faces
 * call it, and the browser-mode transport in front of it.
 */
let lab: LabHost;
let service: ShearService;
let dataDir: string;
const events: Array<{ event: keyof EventMap; payload: unknown }> = [];

beforeAll(async () => {
  lab = await startLabHost({
    vms: [{ name: 'two', disks: [{ id: 'vd0', bus: 'virtio', format: 'qcow2', sizeBytes: 32 * MiB }, { id: 'scsi0', bus: 'scsi', format: 'raw', sizeBytes: 24 * MiB + 512 }] }],
  });
  dataDir = labFolder(lab, 'app-data');
  service = new ShearService({ dataDir, secrets: new MemorySecretStore(), version: '9.9.9', journalDir: labFolder(lab, 'journal') });
  service.subscribe((event, payload) => {
    events.push({ event, payload });
    // Play the user: trust the lab's key when asked.
    if (event === 'hostkey:prompt') void service.handle('hostkey:answer', { promptId: (payload as HostKeyPrompt).promptId, trust: true });
  });
});
afterAll(async () => {
  await service?.close();
  await lab?.stop();
});

const call = <C extends Parameters<ShearService['handle']>[0]>(name: C, request: unknown) => service.handle(name, validateRequest(name, request));

async function waitFor<T>(fn: () => T | undefined, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('ShearService', () => {
  let hostId = '';

  it('adds a host, asks about its key once, and remembers the answer', async () => {
    const host = await call('hosts:save', { host: { name: 'lab', address: lab.sshd.host, port: lab.sshd.port, user: 'root', auth: { kind: 'key', privateKeyPath: lab.sshd.clientKeyPath } } });
    hostId = host.id;
    expect(host).toMatchObject({ name: 'lab', authKind: 'key', hasSecret: false });
    expect(await call('hosts:test', { id: hostId })).toMatchObject({ vmCount: 1 });
    const prompts = events.filter((e) => e.event === 'hostkey:prompt').map((e) => e.payload as HostKeyPrompt);
    expect(prompts).toHaveLength(1);
    expect(prompts[0]?.fingerprint).toMatch(/^SHA256:/);
    // Answered: every window hears that the question is closed, and none is left open.
    expect(events.filter((e) => e.event === 'hostkey:resolved').map((e) => e.payload)).toEqual([{ promptId: prompts[0]?.promptId }]);
    expect(await call('hostkey:pending', undefined)).toEqual([]);
    expect(readFileSync(join(dataDir, 'known_hosts'), 'utf8')).toContain(lab.sshd.hostPublicKey);
    await call('hosts:test', { id: hostId });
    expect(events.filter((e) => e.event === 'hostkey:prompt')).toHaveLength(1);
    expect(JSON.parse(readFileSync(join(dataDir, 'hosts.json'), 'utf8'))).toHaveLength(1);
  });

  it('keeps settings in the data folder; basic_text secrets stay refused by default', async () => {
    expect(await call('settings:get', undefined)).toEqual({ allowBasicTextSecrets: false });
    expect(await call('settings:set', { allowBasicTextSecrets: true })).toEqual({ allowBasicTextSecrets: true });
    expect(JSON.parse(readFileSync(join(dataDir, 'settings.json'), 'utf8'))).toEqual({ allowBasicTextSecrets: true });
    await call('settings:set', { allowBasicTextSecrets: false });
  });

  it('keeps passwords out of the hosts file', async () => {
    const h = await call('hosts:save', { host: { name: 'pw', address: 'nowhere.invalid', port: 22, user: 'root', auth: { kind: 'password', password: 'hunter2' } } });
    expect(h.hasSecret).toBe(true);
    expect(readFileSync(join(dataDir, 'hosts.json'), 'utf8')).not.toContain('hunter2');
    await call('hosts:remove', { id: h.id });
    expect((await call('hosts:list', undefined)).map((x) => x.name)).toEqual(['lab']);
  });

  it('lists VMs, describes a storage and previews the exact images', async () => {
    const vms = await call('vms:list', { hostId });
    expect(vms.map((v) => [v.id, v.disks.map((d) => [d.device, d.sizeBytes])])).toEqual([['two', [['scsi0', 24 * MiB + 512], ['vd0', 32 * MiB]]]]);
    const fleece = labFolder(lab, 'fleece');
    const info = await call('storages:describe', { hostId, spec: `dir:${fleece}` });
    expect(info).toMatchObject({ kind: 'dir', formats: ['qcow2', 'raw'], thin: true, pathBased: true });
    expect(info.freeBytes).toBeGreaterThan(0);
    const preview = await call('backup:plan', { hostId, vmIds: ['two'], fleecing: { storage: `dir:${fleece}`, format: 'raw' }, target: `dir:${labFolder(lab, 'target')}` });
    expect(preview.images.map((i) => [i.device, i.name, i.sizeBytes])).toEqual([['scsi0', 'vm-two-fleece-0.raw', 24 * MiB + 512], ['vd0', 'vm-two-fleece-1.raw', 32 * MiB]]);
  });

  it('runs a backup owned by the service: batched updates, progress to 100 %, history', async () => {
    const fleece = labFolder(lab, 'fleece');
    const { runId } = await call('backup:start', { hostId, vmIds: ['two'], fleecing: { storage: `dir:${fleece}`, format: 'auto' }, target: `dir:${labFolder(lab, 'target')}` });
    const updates = () => events.filter((e) => e.event === 'runs:update').flatMap((e) => e.payload as RunSnapshot[]).filter((r) => r.id === runId);
    const done = await waitFor(() => updates().find((r) => r.state !== 'running'));
    expect(done.state, done.error ?? '').toBe('succeeded');
    expect(done.disks.map((d) => [d.disk, d.done === d.total])).toEqual(expect.arrayContaining([['vd0', true], ['scsi0', true]]));
    // Deltas: every log line arrives exactly once across the batches.
    const seqs = updates().flatMap((u) => u.log.map((l) => l.seq));
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(seqs.length).toBeGreaterThan(5);
    const snap = (await call('runs:list', undefined)).find((r) => r.id === runId);
    expect(snap?.log.map((l) => l.seq)).toEqual([...seqs].sort((a, b) => a - b));
    const entries = await waitFor(() => {
      try {
        const h = JSON.parse(readFileSync(join(dataDir, 'history.json'), 'utf8')) as Array<{ runId: string }>;
        return h.find((x) => x.runId === runId);
      } catch {
        return undefined;
      }
    });
    expect(entries).toMatchObject({ runId, state: 'succeeded', archives: [expect.stringMatching(/\/two\/\d{8}T\d{6}Z$/)] });

    // Two runs ending at the same moment are both recorded.
    const archive = (entries as unknown as { archives: string[] }).archives[0] as string;
    const [a, b] = await Promise.all([call('archives:verify', { hostId, archive }), call('archives:verify', { hostId, archive })]);
    const ids = [a.runId, b.runId];
    const history = await waitFor(() => {
      const h = JSON.parse(readFileSync(join(dataDir, 'history.json'), 'utf8')) as Array<{ runId: string; state: string }>;
      return ids.every((id) => h.some((x) => x.runId === id)) ? h : undefined;
    });
    expect(history.filter((x) => ids.includes(x.runId)).map((x) => x.state)).toEqual(['succeeded', 'succeeded']);
  });
});

describe('cancelling a run', () => {
  it('tears down cleanly and records the run as cancelled', async () => {
    const hostId = (await call('hosts:list', undefined))[0]?.id ?? '';
    const fleece = labFolder(lab, 'fleece-cancel');
    const { runId } = await call('backup:start', { hostId, vmIds: ['two'], fleecing: { storage: `dir:${fleece}`, format: 'auto' }, target: `dir:${labFolder(lab, 'target')}`, bwlimitMiB: 1 });
    const updates = () => events.filter((e) => e.event === 'runs:update').flatMap((e) => e.payload as RunSnapshot[]).filter((r) => r.id === runId);
    await waitFor(() => updates().find((r) => r.disks.some((d) => d.done > 0)));
    await call('runs:cancel', { runId });
    const end = await waitFor(() => updates().find((r) => r.state !== 'running'));
    expect(end.state).toBe('cancelled');
    const leftovers = await call('leftovers:scan', { hostId, storages: [`dir:${fleece}`] });
    expect(leftovers).toEqual([]);
  });
});

describe('browser mode transport', () => {
  let web: WebServer;
  let rendererDir: string;
  beforeAll(async () => {
    rendererDir = labFolder(lab, 'renderer');
    writeFileSync(join(rendererDir, 'index.html'), '<!doctype html><title>Shear</title>');
    mkdirSync(join(rendererDir, 'assets'));
    writeFileSync(join(rendererDir, 'assets', 'app.js'), 'console.log(1)');
    writeFileSync(join(lab.dir, 'secret.txt'), 'do not serve');
    web = await startWebServer({ service, rendererDir });
  });
  afterAll(async () => {
    await web?.close();
  });

  const origin = () => `http://127.0.0.1:${web.port}`;
  const connect = (token: string, headers: Record<string, string> = { origin: origin() }) =>
    new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${web.port}/api?token=${encodeURIComponent(token)}`, { headers });
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
  const rpc = (ws: WebSocket, msg: unknown) =>
    new Promise<Record<string, unknown>>((resolve) => {
      ws.on('message', function onMessage(data) {
        const m = JSON.parse(String(data)) as Record<string, unknown>;
        if ('id' in m) {
          ws.off('message', onMessage);
          resolve(m);
        }
      });
      ws.send(JSON.stringify(msg));
    });

  it('serves the renderer with a CSP, only from its folder, on loopback', async () => {
    const page = await fetch(`${origin()}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
    expect((await fetch(`${origin()}/assets/app.js`)).headers.get('content-type')).toMatch(/javascript/);
    expect((await fetch(`${origin()}/..%2fsecret.txt`)).status).toBe(403);
    // A malformed escape is a bad request, and the server (which owns the runs) lives on.
    expect((await fetch(`${origin()}/%E0%A4%A`)).status).toBe(400);
    expect((await fetch(`${origin()}/`)).status).toBe(200);
    expect((await fetch(`${origin()}/`, { method: 'POST' })).status).toBe(405);
    expect(web.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]{20,}$/);
  });

  it('refuses a wrong token or a foreign origin', async () => {
    await expect(connect('wrong')).rejects.toThrow(/403/);
    await expect(connect(web.token, { origin: 'https://evil.example' })).rejects.toThrow(/403/);
  });

  it('answers calls through the same service, rejecting malformed requests without effect', async () => {
    const ws = await connect(web.token);
    try {
      expect(await rpc(ws, { id: 1, channel: 'app:info', request: null })).toMatchObject({ id: 1, ok: true, value: { name: 'Shear', version: '9.9.9' } });
      expect(await rpc(ws, { id: 2, channel: 'hosts:list', request: null })).toMatchObject({ ok: true, value: [expect.objectContaining({ name: 'lab' })] });
      expect(await rpc(ws, { id: 3, channel: 'hosts:save', request: { host: { name: 'x', address: 'a;b c', port: 70000, user: 'root', auth: { kind: 'agent' } } } })).toMatchObject({
        id: 3, ok: false, error: { name: 'ValidationError', message: expect.stringMatching(/host\.address: .*host\.port/) },
      });
      expect(await rpc(ws, { id: 4, channel: 'system:shutdown', request: null })).toMatchObject({ ok: false, error: { message: 'unknown channel system:shutdown' } });
      expect(await rpc(ws, { id: 5, channel: 'hosts:list', request: null })).toMatchObject({ value: [expect.objectContaining({ name: 'lab' })] });
      expect((await call('hosts:list', undefined)).map((h) => h.name)).toEqual(['lab']);
    } finally {
      ws.close();
    }
  });
});

describe('host key questions', () => {
  it('lists a question while it is open (for a reloaded window) and closes it on the answer', async () => {
    const other = new ShearService({ dataDir: labFolder(lab, 'app-data-2'), secrets: new MemorySecretStore(), version: '9.9.9', journalDir: labFolder(lab, 'journal') });
    const resolved: unknown[] = [];
    other.subscribe((event, payload) => {
      if (event === 'hostkey:resolved') resolved.push(payload);
    });
    try {
      const { id } = await other.handle('hosts:save', validateRequest('hosts:save', { host: { name: 'lab', address: lab.sshd.host, port: lab.sshd.port, user: 'root', auth: { kind: 'key', privateKeyPath: lab.sshd.clientKeyPath } } }));
      const testing = other.handle('hosts:test', { id }).then(() => null, (e: unknown) => e);
      let open: HostKeyPrompt | undefined;
      for (let i = 0; i < 200 && !open; i++) {
        open = (await other.handle('hostkey:pending', undefined))[0];
        if (!open) await new Promise((r) => setTimeout(r, 50));
      }
      expect(open).toMatchObject({ host: lab.sshd.host, port: lab.sshd.port, fingerprint: expect.stringMatching(/^SHA256:/) });
      await other.handle('hostkey:answer', { promptId: open?.promptId ?? '', trust: false });
      expect(await testing).toBeInstanceOf(Error);
      expect(resolved).toEqual([{ promptId: open?.promptId }]);
      expect(await other.handle('hostkey:pending', undefined)).toEqual([]);
    } finally {
      await other.close();
    }
  });
});

describe('host changes while a backup runs', () => {
  it('tests the connection on a separate session, and refuses to change or remove the host until the run ends', async () => {
    const host = (await call('hosts:list', undefined))[0];
    const hostId = host?.id ?? '';
    const fleece = labFolder(lab, 'fleece-busy');
    const { runId } = await call('backup:start', { hostId, vmIds: ['two'], fleecing: { storage: `dir:${fleece}`, format: 'auto' }, target: `dir:${labFolder(lab, 'target')}`, bwlimitMiB: 1 });
    const updates = () => events.filter((e) => e.event === 'runs:update').flatMap((e) => e.payload as RunSnapshot[]).filter((r) => r.id === runId);
    await waitFor(() => updates().find((r) => r.disks.some((d) => d.done > 0)));
    expect(await call('hosts:test', { id: hostId })).toMatchObject({ vmCount: 1 });
    try {
      const input = { name: 'renamed', address: lab.sshd.host, port: lab.sshd.port, user: 'root', auth: { kind: 'key', privateKeyPath: lab.sshd.clientKeyPath } };
      await expect(call('hosts:save', { id: hostId, host: input })).rejects.toThrow(/cannot change this host while a run is in progress on it \(backup of two\)/);
      await expect(call('hosts:remove', { id: hostId })).rejects.toThrow(/cannot remove this host while a run is in progress/);
      expect((await call('hosts:list', undefined)).map((h) => h.name)).toEqual([host?.name]);
      // The run's own session was never touched: it is still copying, and a cancel tears down cleanly.
      expect(updates().at(-1)?.state).toBe('running');
    } finally {
      await call('runs:cancel', { runId });
    }
    const end = await waitFor(() => updates().find((r) => r.state !== 'running'));
    expect(end.state).toBe('cancelled');
    expect(end.warnings.filter((w) => /session closed|failed/.test(JSON.stringify(w)))).toEqual([]);
    expect(await call('leftovers:scan', { hostId, storages: [`dir:${fleece}`] })).toEqual([]);
  });
});

describe('closing the service (quitting the app) mid-backup', () => {
  it('cancels the run and waits for its teardown before closing the sessions', async () => {
    const hostId = (await call('hosts:list', undefined))[0]?.id ?? '';
    // A second service on the same data (hosts, known keys): the app as the user quits it.
    const quitting = new ShearService({ dataDir, secrets: new MemorySecretStore(), version: '9.9.9', journalDir: labFolder(lab, 'journal') });
    const seen: RunSnapshot[] = [];
    quitting.subscribe((event, payload) => {
      if (event === 'runs:update') seen.push(...(payload as RunSnapshot[]));
    });
    const fleece = labFolder(lab, 'fleece-quit');
    const { runId } = await quitting.handle('backup:start', validateRequest('backup:start', {
      hostId, vmIds: ['two'], fleecing: { storage: `dir:${fleece}`, format: 'auto' }, target: `dir:${labFolder(lab, 'target')}`, bwlimitMiB: 1,
    }));
    await waitFor(() => seen.find((r) => r.id === runId && r.disks.some((d) => d.done > 0)));
    await quitting.close();
    expect(seen.filter((r) => r.id === runId).at(-1)?.state).toBe('cancelled');
    const history = JSON.parse(readFileSync(join(dataDir, 'history.json'), 'utf8')) as Array<{ runId: string; state: string }>;
    expect(history.find((h) => h.runId === runId)?.state).toBe('cancelled');
    // Nothing of the run is left in the guest or on the storage.
    expect(await call('leftovers:scan', { hostId, storages: [`dir:${fleece}`] })).toEqual([]);
  });
});
