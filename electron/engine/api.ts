import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type {
  BackupPlanPreview,
  BackupRequest,
  ChannelName,
  EventMap,
  EventName,
  HistoryEntry,
  HostKeyPrompt,
  ParsedRequestOf,
  ResponseOf,
  RunSnapshot,
  StorageInfo,
} from '../../shared/contract.js';
import type { RunEvent, VmDetails } from '../../shared/model.js';
import { readArchiveManifest } from './archive/manifest.js';
import { restoreAsNewImages } from './archive/restore.js';
import { restoreIntoVm } from './archive/restore-into.js';
import { verifyArchive } from './archive/verify.js';
import { HostStore, readJsonFile, writeJsonFile, type SecretStore } from './app/host-store.js';
import { RunManager } from './app/run-manager.js';
import { SettingsStore } from './app/settings-store.js';
import { BackupCancelledError, runBackup } from './backup/run-backup.js';
import { planBackup } from './backup/plan.js';
import { runOfflineBackup } from './backup/offline-backup.js';
import { SshHostSession } from './hosts/host-session.js';
import { inspectVm } from './hosts/vm-inspect.js';
import { cleanupLeftovers } from './leftovers/cleanup.js';
import { scanLeftovers } from './leftovers/scan.js';
import { DEFAULT_JOURNAL_DIR } from './backup/journal.js';
import type { Logger } from './log.js';
import { connectSsh, type SshAuth } from './ssh/connect.js';
import { KnownHostsFile } from './ssh/known-hosts.js';
import { sshTargetFor } from './ssh/target.js';
import { listSshConfigHosts } from './ssh/ssh-config.js';
import type { Storage } from './storage/storage.js';
import { detailsWithoutQemu, hostDriver, resolveStorages, type HostDriver } from './hosts/host-driver.js';
import { proxmoxConfig } from './hosts/proxmox.js';
import { configVolumes, driveSizeBytes } from './hosts/proxmox-volumes.js';

export interface ShearServiceOptions {
  /** The app's data folder: hosts.json, known_hosts, history.json. */
  dataDir: string;
  secrets: SecretStore;
  /** Shared with the secret store, which must read it synchronously. */
  settings?: SettingsStore;
  version: string;
  platform?: string;
  /** Host-side journal folder (tests point it into their lab). */
  journalDir?: string;
  /** Home folder whose .ssh/config "Import" reads (default: the user's). */
  sshConfigHome?: string;
  /** How long a host key prompt waits for the user. */
  hostKeyPromptTimeoutMs?: number;
  log?: Logger;
}

type Handlers = { [C in ChannelName]: (request: ParsedRequestOf<C>) => Promise<ResponseOf<C>> };
type Listener = <E extends EventName>(event: E, payload: EventMap[E]) => void;

/**
 * The one API object. Every face (Electron IPC, the browser-mode WebSocket, the
 * tests) calls `handle` with a validated request; none has logic of its own.
 * Events go to every subscribed face.
 */
export class ShearService {
  private readonly hosts: HostStore;
  private readonly knownHosts: KnownHostsFile;
  private readonly sessions = new Map<string, Promise<SshHostSession>>();
  private readonly prompts = new Map<string, { prompt: HostKeyPrompt; answer: (trust: boolean) => void }>();
  private readonly listeners = new Set<Listener>();
  /** Runs still working (their teardown included): closing waits for them. */
  private readonly inFlight = new Set<Promise<void>>();
  readonly runs: RunManager;
  private readonly historyPath: string;
  private readonly settings: SettingsStore;
  private readonly log: Logger;

  constructor(private readonly o: ShearServiceOptions) {
    this.hosts = new HostStore(join(o.dataDir, 'hosts.json'), o.secrets);
    this.knownHosts = new KnownHostsFile(join(o.dataDir, 'known_hosts'));
    this.historyPath = join(o.dataDir, 'history.json');
    this.settings = o.settings ?? new SettingsStore(o.dataDir);
    this.runs = new RunManager((updates) => this.emit('runs:update', updates));
    this.log = o.log ?? (() => {});
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit<E extends EventName>(event: E, payload: EventMap[E]): void {
    for (const l of this.listeners) l(event, payload);
  }

  private readonly handlers: Handlers = {
    'app:info': async () => ({ name: 'Shear', version: this.o.version, platform: this.o.platform ?? process.platform }),
    'settings:get': async () => this.settings.current,
    'settings:set': (patch) => this.settings.update(patch),
    'hosts:list': () => this.hosts.list(),
    'hosts:save': async ({ id, host }) => {
      if (id) this.refuseWhileRunning(id, 'change');
      const saved = await this.hosts.save(id, host);
      await this.dropSession(saved.id);
      return saved;
    },
    'hosts:remove': async ({ id }) => {
      this.refuseWhileRunning(id, 'remove');
      await this.dropSession(id);
      await this.hosts.remove(id);
    },
    // Read on the engine's side: the renderer never touches the file system.
    'hosts:sshConfig': async () => listSshConfigHosts(this.o.sshConfigHome ? { home: this.o.sshConfigHome } : {}),
    'hosts:test': async ({ id }) => {
      // A connection of its own: the host's session may be carrying a backup right now.
      const session = await this.openSession(id);
      try {
        return { label: session.label, vmCount: (await (await hostDriver(session)).listVms()).length };
      } finally {
        session.close();
      }
    },
    'hostkey:answer': async ({ promptId, trust }) => {
      const open = this.prompts.get(promptId);
      if (!open) throw new Error('that host key question is no longer open');
      open.answer(trust);
    },
    'hostkey:pending': async () => [...this.prompts.values()].map((p) => p.prompt),
    'vms:list': async ({ hostId }) => {
      const session = await this.session(hostId);
      const out: VmDetails[] = [];
      for (const vm of await (await this.driver(hostId)).listVms()) {
        if (vm.qmpSockets.length === 0) {
          // Stopped VMs and templates (Proxmox) are listed; their disks come from QEMU only when running.
          out.push(detailsWithoutQemu(vm));
          continue;
        }
        try {
          out.push(await inspectVm(session, vm));
        } catch (err) {
          // Listed with the reason: a VM that silently vanished from the list would look not to exist.
          this.log('warn', `${vm.name}: ${(err as Error).message}`);
          out.push({ ...detailsWithoutQemu(vm), runState: 'unknown', inspectError: (err as Error).message });
        }
      }
      return out;
    },
    'storages:describe': async ({ hostId, spec }) => this.describeStorage(hostId, spec),
    'backup:plan': (request) => this.preview(request),
    'backup:start': (request) => this.start(request),
    'runs:list': async () => this.runs.list(),
    'runs:cancel': async ({ runId }) => this.runs.cancel(runId),
    'history:list': () => readJsonFile<HistoryEntry[]>(this.historyPath, []),
    'archives:inspect': async ({ hostId, archive }) => readArchiveManifest(await this.session(hostId), archive),
    'archives:verify': ({ hostId, archive }) =>
      this.startTask(hostId, 'verify', archive, async (session, emit, signal) => {
        const report = await verifyArchive(session, archive, (d) => {
          emit({ type: 'log', level: d.ok ? 'info' : 'error', message: `${d.device} (${d.file}): ${d.ok ? 'verified' : d.problems.join('; ')}`, disk: d.device, time: Date.now() });
          for (const note of d.notes) emit({ type: 'warning', message: `${d.device}: ${note}`, time: Date.now() });
        }, signal);
        if (!report.ok) throw new Error(report.problems[0] ?? `verification failed: ${report.disks.filter((d) => !d.ok).map((d) => d.device).join(', ')}`);
        emit({ type: 'log', level: 'info', message: `every disk of ${archive} verified`, time: Date.now() });
      }),
    'archives:restore': (request) =>
      this.startTask(request.hostId, 'restore', request.archive, async (session, emit, signal) => {
        const common = { host: session, archiveDir: request.archive, disks: request.disks, emit, signal };
        const driver = await this.driver(request.hostId);
        if (request.target.kind === 'vm') {
          await restoreIntoVm({ ...common, driver, vm: request.target.vm, yes: request.target.confirm });
          return;
        }
        const result = await restoreAsNewImages({ ...common, storage: await driver.resolveStorage(request.target.storage) });
        for (const image of result.images) emit({ type: 'log', level: 'info', message: `${image.device} restored as ${image.path}`, disk: image.device, time: Date.now() });
      }),
    'leftovers:scan': async ({ hostId, storages }) => {
      const session = await this.session(hostId);
      return (await scanLeftovers(session, { journalDir: this.journalDir, storages: await this.storages(hostId, storages) })).items;
    },
    'leftovers:clean': async ({ hostId, storages, ids, includeUnknown }) => {
      const session = await this.session(hostId);
      return cleanupLeftovers(session, { journalDir: this.journalDir, storages: await this.storages(hostId, storages), ids, includeUnknown });
    },
  };

  /** Runs one validated request. */
  handle<C extends ChannelName>(name: C, request: ParsedRequestOf<C>): Promise<ResponseOf<C>> {
    return (this.handlers[name] as (r: ParsedRequestOf<C>) => Promise<ResponseOf<C>>)(request);
  }

  private get journalDir(): string {
    return this.o.journalDir ?? DEFAULT_JOURNAL_DIR;
  }

  // ---------- hosts and sessions ----------

  private readonly drivers = new Map<string, Promise<HostDriver>>();

  /** Plain QEMU host or Proxmox VE, found out once per host (and again after an edit). */
  private driver(hostId: string): Promise<HostDriver> {
    let d = this.drivers.get(hostId);
    if (!d) {
      d = this.session(hostId).then((s) => hostDriver(s));
      this.drivers.set(hostId, d);
      d.catch(() => this.drivers.delete(hostId));
    }
    return d;
  }

  private async storages(hostId: string, specs: string[]): Promise<Storage[]> {
    return resolveStorages(await this.driver(hostId), specs);
  }


  /** A host's session carries its runs: changing or removing the host would cut them off mid-teardown. */
  private refuseWhileRunning(hostId: string, what: 'change' | 'remove'): void {
    const running = this.runs.list().filter((r) => r.hostId === hostId && r.state === 'running');
    if (running.length > 0) {
      throw new Error(`cannot ${what} this host while ${running.length === 1 ? 'a run is' : `${running.length} runs are`} in progress on it (${running.map((r) => `${r.kind} of ${r.vmIds.join(', ')}`).join('; ')}); wait for it or cancel it first`);
    }
  }

  private async dropSession(id: string): Promise<void> {
    this.drivers.delete(id);
    const s = this.sessions.get(id);
    this.sessions.delete(id);
    if (s) (await s.catch(() => null))?.close();
  }

  /** One reconnecting SSH session per host, opened on first use. */
  private session(hostId: string): Promise<SshHostSession> {
    let s = this.sessions.get(hostId);
    if (!s) {
      s = this.openSession(hostId);
      this.sessions.set(hostId, s);
      s.catch(() => this.sessions.delete(hostId));
    }
    return s;
  }

  private async openSession(hostId: string): Promise<SshHostSession> {
    const host = await this.hosts.get(hostId);
    const secret = await this.hosts.secret(hostId);
    const auth: SshAuth[] = [];
    if (host.authKind === 'agent') auth.push({ kind: 'agent' });
    if (host.authKind === 'key' && host.privateKeyPath) auth.push({ kind: 'key', privateKeyPath: host.privateKeyPath, ...(secret ? { passphrase: secret } : {}) });
    if (host.authKind === 'password' && secret) auth.push({ kind: 'password', password: secret });
    const target = sshTargetFor(host.address, auth, { user: host.user, port: host.port });
    const connect = () =>
      connectSsh(target, {
        hostKeys: { knownHosts: this.knownHosts, onUnknownKey: (k) => this.askHostKey({ host: k.host, port: k.port, keyType: k.keyType, fingerprint: k.fingerprint }) },
        log: this.log,
      });
    return SshHostSession.open(connect);
  }

  /** Asks every face; the first answer counts; no answer in time means no. */
  private askHostKey(key: Omit<HostKeyPrompt, 'promptId'>): Promise<boolean> {
    const promptId = randomUUID();
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => answer(false), this.o.hostKeyPromptTimeoutMs ?? 300_000);
      const answer = (trust: boolean) => {
        clearTimeout(timer);
        if (!this.prompts.delete(promptId)) return;
        resolve(trust);
        this.emit('hostkey:resolved', { promptId });
      };
      const prompt: HostKeyPrompt = { promptId, ...key };
      this.prompts.set(promptId, { prompt, answer });
      this.emit('hostkey:prompt', prompt);
    });
  }

  private async hostLabel(hostId: string): Promise<string> {
    const h = await this.hosts.get(hostId);
    return `${h.name} (${h.user}@${h.address}:${h.port})`;
  }

  // ---------- storages and plans ----------

  private async describeStorage(hostId: string, spec: string): Promise<StorageInfo> {
    const session = await this.session(hostId);
    const storage = await (await this.driver(hostId)).resolveStorage(spec);
    return { spec: storage.spec, kind: storage.kind, formats: [...storage.formats], thin: storage.thin, pathBased: storage.pathBased, freeBytes: await storage.freeBytes(session) };
  }

  private async preview(request: BackupRequest): Promise<BackupPlanPreview> {
    const session = await this.session(request.hostId);
    const driver = await this.driver(request.hostId);
    const vms = await driver.listVms();
    const storage = request.fleecing ? await driver.resolveStorage(request.fleecing.storage) : null;
    const preview: BackupPlanPreview = { images: [], direct: [], warnings: [] };
    for (const vmId of request.vmIds) {
      const summary = vms.find((v) => v.id === vmId);
      if (!summary) throw new Error(`no VM ${vmId} on this host`);
      if (summary.qmpSockets.length === 0) {
        // A stopped Proxmox VM or template: backup:start copies its volumes straight (offline backup).
        if (!summary.proxmox) throw new Error(`VM ${vmId} has no QMP monitor (not running?)`);
        const config = await proxmoxConfig(session, summary.proxmox.vmid);
        const why = `VM is ${summary.proxmox.template ? 'a template' : 'stopped'}: copied from its volume, no fleecing needed`;
        for (const v of configVolumes(config)) preview.direct.push({ vmId, device: v.key, sizeBytes: driveSizeBytes(config[v.key]), reason: why });
        continue;
      }
      const vm = await inspectVm(session, summary);
      for (const skip of vm.skipped ?? []) preview.warnings.push(`${vmId}: ${skip.device} is not backed up: ${skip.reason}`);
      const plan = planBackup({
        vm,
        runId: '00000000',
        startedAt: new Date(),
        fleecing: storage && request.fleecing ? { storage, format: request.fleecing.format } : null,
        targetDir: await driver.resolveTarget(request.target),
      });
      for (const d of plan.disks) {
        if (d.fleece) preview.images.push({ vmId, device: d.disk.device, name: d.fleece.imageName, path: d.fleece.imagePath, format: d.fleece.format, sizeBytes: d.disk.sizeBytes });
        else preview.direct.push({ vmId, device: d.disk.device, sizeBytes: d.disk.sizeBytes, reason: d.disk.role !== 'disk' ? `${d.disk.role} is copied directly` : 'fleecing is off' });
      }
    }
    if (storage && !storage.thin) {
      preview.warnings.push(`${storage.spec} reserves the full size of every fleecing image (thick storage)`);
    }
    return preview;
  }

  // ---------- runs ----------

  private async start(request: BackupRequest): Promise<{ runId: string }> {
    const session = await this.session(request.hostId);
    const driver = await this.driver(request.hostId);
    const storage = request.fleecing ? await driver.resolveStorage(request.fleecing.storage) : null;
    const targetDir = await driver.resolveTarget(request.target);
    const all = await driver.listVms();
    const vms = request.vmIds.map((id) => {
      const vm = all.find((v) => v.id === id);
      if (!vm) throw new Error(`no VM ${id} on this host`);
      if (vm.qmpSockets.length === 0 && !vm.proxmox) throw new Error(`VM ${id} has no QMP monitor (not running?)`);
      return vm;
    });
    const { id, signal } = this.runs.create({ hostId: request.hostId, hostLabel: await this.hostLabel(request.hostId), vmIds: request.vmIds });
    this.track(async () => {
      let state: 'succeeded' | 'failed' | 'cancelled' = 'succeeded';
      let error: string | null = null;
      for (const vm of vms) {
        if (signal.aborted) {
          // VMs not yet begun are not backed up: the run is cancelled even if the previous ones succeeded.
          state = 'cancelled';
          break;
        }
        try {
          const platform = driver.platformFor(vm);
          if (vm.qmpSockets.length === 0 && platform?.lock) {
            // A stopped Proxmox VM or template: copied straight from its volumes, no fleecing needed.
            await runOfflineBackup({
              host: session, vm, targetDir, emit: (e) => this.runs.apply(id, vm.id, e),
              toolVersion: this.o.version, journalDir: this.journalDir, signal, lock: platform.lock,
            });
            continue;
          }
          await runBackup({
            ...(platform ? { platform } : {}),
            host: session,
            vm,
            targetDir,
            fleecing: storage && request.fleecing ? { storage, format: request.fleecing.format } : null,
            ...(request.bwlimitMiB ? { bwlimit: Math.round(request.bwlimitMiB * 1024 * 1024) } : {}),
            signal,
            emit: (e) => this.runs.apply(id, vm.id, e),
            toolVersion: this.o.version,
            journalDir: this.journalDir,
          });
        } catch (err) {
          if (err instanceof BackupCancelledError || signal.aborted) {
            state = 'cancelled';
            break;
          }
          state = 'failed';
          // Every VM's failure, not only the last one's.
          error = [error, `${vm.id}: ${(err as Error).message}`].filter(Boolean).join('; ');
        }
      }
      // What happened, not what was asked last: a cancel that came after the last VM finished changes nothing.
      await this.record(this.runs.finish(id, state, error));
    });
    return { runId: id };
  }

  /**
   * A verify or restore as a run: the same progress, log and history as a
   * backup. The archive's VM names the run (when its manifest can be read).
   */
  private async startTask(
    hostId: string,
    kind: 'verify' | 'restore',
    archive: string,
    body: (session: SshHostSession, emit: (e: RunEvent) => void, signal: AbortSignal) => Promise<void>,
  ): Promise<{ runId: string }> {
    const session = await this.session(hostId);
    const vmId = await readArchiveManifest(session, archive).then((m) => m.vm.id, () => archive.split('/').filter(Boolean).at(-2) ?? archive);
    const { id, signal } = this.runs.create({ hostId, hostLabel: await this.hostLabel(hostId), vmIds: [vmId], kind });
    this.track(async () => {
      let error: string | null = null;
      try {
        await body(session, (e) => this.runs.apply(id, vmId, e), signal);
      } catch (err) {
        error = (err as Error).message;
        this.runs.log(id, 'error', error);
      }
      const snap = this.runs.finish(id, error === null ? 'succeeded' : signal.aborted ? 'cancelled' : 'failed', error);
      // A restore's result names its record, not an archive: history keeps the archive it came from.
      await this.record({ ...snap, archives: [archive] });
    });
    return { runId: id };
  }

  /** History updates one after another: two runs ending together must both be recorded. */
  private historyWrites: Promise<void> = Promise.resolve();

  private record(snap: RunSnapshot): Promise<void> {
    const next = this.historyWrites.then(() => this.appendHistory(snap));
    this.historyWrites = next.catch(() => undefined);
    return next;
  }

  private async appendHistory(snap: RunSnapshot): Promise<void> {
    const history = await readJsonFile<HistoryEntry[]>(this.historyPath, []);
    history.unshift({
      runId: snap.id, kind: snap.kind, hostId: snap.hostId, hostLabel: snap.hostLabel, vmIds: snap.vmIds, state: snap.state,
      startedAt: snap.startedAt, finishedAt: snap.finishedAt ?? Date.now(), archives: snap.archives, error: snap.error,
    });
    await writeJsonFile(this.historyPath, history.slice(0, 500)).catch((e: unknown) => this.log('warn', `could not save history: ${(e as Error).message}`));
  }

  private track(work: () => Promise<void>): void {
    const done: Promise<void> = work()
      .catch((err: unknown) => this.log('error', `a run ended with an unexpected error: ${(err as Error).message}`))
      .finally(() => this.inFlight.delete(done));
    this.inFlight.add(done);
  }

  /**
   * Quitting mid-run cancels every run and waits for its teardown (filters out, images freed,
   * a paused VM resumed) before the SSH sessions close: closing them first would leave it all
   * in the guest. After `waitMs` the sessions close anyway; a run's journal then stays for leftovers.
   */
  async close(waitMs = 120_000): Promise<void> {
    for (const run of this.runs.list()) if (run.state === 'running') this.runs.cancel(run.id);
    if (this.inFlight.size > 0) {
      this.log('info', `waiting for ${this.inFlight.size} run(s) to tear down before closing`);
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), waitMs)));
      const outcome = await Promise.race([Promise.allSettled([...this.inFlight]), timedOut]);
      clearTimeout(timer);
      if (outcome === 'timeout') this.log('warn', `runs still tearing down after ${waitMs} ms; closing anyway (\`shear leftovers\` finds what they left)`);
    }
    this.runs.flush();
    for (const id of [...this.sessions.keys()]) await this.dropSession(id);
  }
}

