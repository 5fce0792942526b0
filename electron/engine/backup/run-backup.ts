import type { Manifest, RunEvent, VmDetails, VmDisk, VmSummary } from '../../../shared/model.js';
import type { HostSession } from '../hosts/host-session.js';
import { describeVm, withFirstFreeMonitor } from '../hosts/vm-inspect.js';
import { probeCapabilities } from '../qmp/capabilities.js';
import { QmpLease } from '../qmp/lease.js';
import type { Storage, StoredImage } from '../storage/storage.js';
import { checkArchivedImage, writeAndFinalizeArchive } from './archive.js';
import { freezeGuest, thawGuest, type FreezeOutcome } from './freeze.js';
import {
  addCbwFilter,
  addFleeceNode,
  addReadOnlyNode,
  addSnapshotAccess,
  addTargetNode,
  assertJobGone,
  cancelAndDismissJob,
  deleteNodeIfPresent,
  deviceDrive,
  restoreDevice,
  namedNodes,
  nodeSize,
  setDeviceDrive,
  startBackupJobs,
} from './graph.js';
import { DEFAULT_JOURNAL_DIR, RunJournal } from './journal.js';
import { monitorJobs } from './monitor.js';
import { newRunId, planBackup, type BackupPlan, type FleecingFormatChoice } from './plan.js';
import { UndoStack } from './undo-stack.js';
import { HOST_PARALLELISM, mapLimit } from '../map-limit.js';
import { sampleWriteCounters, type WriteCounters } from './write-latency.js';
import { cleanupLeftovers } from '../leftovers/cleanup.js';
import { scanLeftovers } from '../leftovers/scan.js';
import { pathStates } from '../leftovers/host-probe.js';
import { listVms } from '../hosts/discovery.js';
import { BackupCancelledError, BackupFailedError } from './errors.js';
import { checkRunState } from './run-state.js';
import { blockGraph, fileChildOf, setThrottleChild } from '../qmp/block-graph.js';
import { outcomeUnknown } from '../ssh/exec.js';
import type { QmpCommandError } from '../qmp/client.js';
import { BACKUP_MAX_WORKERS, ioUringDisabledBy, isIoUringRefusal, targetAio, type TargetHost } from './target-io.js';

export { BackupCancelledError, BackupFailedError };

export interface BackupOptions {
  host: HostSession;
  vm: VmSummary;
  /** Archive root on the host (`dir:PATH` target). */
  targetDir: string;
  fleecing: { storage: Storage; format: FleecingFormatChoice } | null;
  /** Bytes per second for each job; 0 or absent = unlimited. */
  bwlimit?: number;
  signal?: AbortSignal;
  emit: (event: RunEvent) => void;
  toolVersion: string;
  journalDir?: string;
  pollIntervalMs?: number;
  /** No job progress for this long fails the run (default: monitor.ts, 10 min); tests shorten it. */
  stallTimeoutMs?: number;
  /** How long the teardown waits for a cancelled job to end (default 60 s); tests shorten it. */
  jobEndTimeoutMs?: number;
  /** Host-platform specifics: Proxmox takes the VM's backup lock and archives the VM config. */
  platform?: {
    lock?: () => Promise<() => Promise<void>>;
    definition?: () => Promise<Record<string, unknown>>;
    /** What this platform knows the backup will miss, said before it starts. */
    warnings?: () => Promise<string[]>;
    /**
     * State QEMU's block layer does not hold (Proxmox: the TPM state swtpm keeps),
     * opened read-only as extra nodes for the run and copied without fleecing, as vzdump does.
     */
    readOnlyVolumes?: (warn: (message: string) => void) => Promise<ReadOnlyVolume[]>;
  };
  /** Called after each lifecycle step completed (crash tests stop the process here). */
  afterStep?: (step: string) => Promise<void> | void;
}

export interface ReadOnlyVolume {
  device: string;
  role: VmDisk['role'];
  path: string;
  format: string;
  sizeBytes: number;
  blockDevice: boolean;
  /** Undo of whatever made the volume readable (e.g. an LV activation); null when nothing did. */
  release: (() => Promise<void>) | null;
}

export interface BackupResult {
  archiveDir: string;
  manifest: Manifest;
}

// Makes the VM's folder, the new `.partial` folder (never an existing one), then a qcow2 per (path, size) pair.
const MKPARTIAL_NOT_MADE = 90;
const DIR_SCRIPT_MKPARTIAL = `{ mkdir -p -- "$1" && mkdir -- "$2"; } || exit ${MKPARTIAL_NOT_MADE}; shift 2; while [ $# -gt 1 ]; do qemu-img create -q -f qcow2 -- "$1" "$2" || exit 1; shift 2; done`;

export async function runBackup(o: BackupOptions): Promise<BackupResult> {
  const { host } = o;
  const now = () => Date.now();
  const log = (level: 'debug' | 'info' | 'warn' | 'error', message: string, disk?: string) =>
    o.emit({ type: 'log', level, message, time: now(), ...(disk ? { disk } : {}) });
  const warn = (message: string) => o.emit({ type: 'warning', message, time: now() });
  const checkCancel = () => {
    if (o.signal?.aborted) throw new BackupCancelledError();
  };

  const undo = new UndoStack();
  const startedAt = new Date();
  let partialDir: string | null = null;
  // Nodes that may exist in QEMU: an image is freed only once its node is gone.
  const attached = new Set<string>();
  const removeNodeOnUndo = (node: string) => {
    attached.add(node);
    undo.push(`delete node ${node}`, async () => {
      if (!lease) return;
      await deleteNodeIfPresent(await lease.get(), node);
      attached.delete(node);
    });
  };
  let journal: RunJournal | null = null;
  let lease: QmpLease | null = null;
  // Jobs that did not end when cancelled: they still write into the archive (or wait on a stuck target).
  const jobsLeft = new Set<string>();
  let plan: BackupPlan | null = null;

  const step = async <T>(name: string, body: () => Promise<T>): Promise<T> => {
    checkCancel();
    const t0 = now();
    o.emit({ type: 'step', step: name, state: 'started', time: t0 });
    try {
      const value = await body();
      o.emit({ type: 'step', step: name, state: 'done', time: now(), ms: now() - t0 });
      if (journal) await journal.step(name);
      await o.afterStep?.(name);
      return value;
    } catch (err) {
      o.emit({ type: 'step', step: name, state: 'failed', time: now(), ms: now() - t0 });
      throw err;
    }
  };

  // The SSH session logs reconnects to its own logger; the run's watchers need to see them too.
  const offReconnect = host.onReconnect(() => log('warn', `SSH connection to ${host.label} was lost and is restored; the jobs kept running in QEMU`));
  try {
    // First, so the disks are inspected on their original nodes, not on a dead run's filters.
    await step('orphans', () => removeOwnOrphans(host, o.vm, o.fleecing?.storage ?? null, o.journalDir ?? DEFAULT_JOURNAL_DIR, log, warn));
    const { vm, caps, socket } = await step('inspect', async () => {
      // One session for the disks and the capabilities; the run keeps to the monitor that answered.
      const found = await withFirstFreeMonitor(host, o.vm, async (qmp, answered) => ({
        vm: await describeVm(qmp, o.vm),
        caps: await probeCapabilities(qmp),
        socket: answered,
      }));
      log('info', `VM ${found.vm.name} (${found.vm.runState}) on QEMU ${found.vm.qemuVersion}: ${found.vm.disks.length} disk(s)`);
      checkRunState(found.vm.name, found.vm.runState);
      for (const skip of found.vm.skipped ?? []) warn(`${skip.device} is not backed up: ${skip.reason}`);
      return found;
    });
    lease = new QmpLease(host.qmp, socket);
    for (const w of (await o.platform?.warnings?.()) ?? []) warn(w);
    const runId = newRunId();
    // Opened by the `attach` step, under a `shear-<run>-` name so a crashed run's node is found as a leftover.
    const readOnly = new Map<string, ReadOnlyVolume>();
    for (const v of (await o.platform?.readOnlyVolumes?.(warn)) ?? []) {
      const nodeName = `shear-${runId}-ro${readOnly.size}`;
      readOnly.set(nodeName, v);
      if (v.release) undo.push(`release ${v.path}`, v.release);
      vm.disks.push({ device: v.device, qomPath: '', blockBackend: '', nodeName, format: v.format, sizeBytes: v.sizeBytes, file: v.path, backingFile: null, role: v.role });
      log('info', `${v.device}: ${v.path} is not a QEMU drive; it is opened read-only for the backup`, v.device);
    }
    if (vm.disks.length === 0) throw new Error(`VM ${vm.name} has no writable disks to back up`);

    let fleecing = o.fleecing;
    if (fleecing && !caps.fleecing) {
      warn(`QEMU ${vm.qemuVersion} on ${host.label} cannot fleece (needs copy-before-write, snapshot-access and blockdev-backup); backing up without fleecing`);
      fleecing = null;
    }
    plan = planBackup({
      vm,
      runId,
      startedAt,
      fleecing: fleecing ? { storage: fleecing.storage, format: fleecing.format } : null,
      targetDir: o.targetDir,
    });
    const thePlan = plan;
    for (const d of thePlan.disks) {
      log('info', d.fleece
        ? `${d.disk.device}: ${d.disk.sizeBytes} bytes, fleecing image ${d.fleece.imageName} (${d.fleece.format})`
        : `${d.disk.device}: ${d.disk.sizeBytes} bytes, ${d.disk.role === 'disk' ? 'no fleecing' : `${d.disk.role}, copied without fleecing`}`,
      d.disk.device);
    }

    const targetHost = await step('preflight', () => preflight(host, vm, thePlan, fleecing?.storage ?? null, o.targetDir, warn));

    journal = new RunJournal(host, {
      formatVersion: 1,
      runId,
      host: host.label,
      vm: { id: vm.id, name: vm.name, pid: vm.pid, qmpSockets: vm.qmpSockets },
      startedAt: startedAt.toISOString(),
      updatedAt: startedAt.toISOString(),
      state: 'preparing',
      steps: [],
      images: thePlan.disks.flatMap((d) => (d.fleece && fleecing ? [{ storage: fleecing.storage.spec, name: d.fleece.imageName, path: d.fleece.imagePath }] : [])),
      nodes: [...readOnly.keys(), ...thePlan.disks.flatMap((d) => [d.targetNode, ...(d.fleece ? [d.fleece.node, d.fleece.cbwNode, d.fleece.snapNode] : [])])],
      devices: thePlan.disks.map((d) => ({
        device: d.disk.device, qomPath: d.disk.qomPath, originalNode: d.disk.nodeName, cbwNode: d.fleece?.cbwNode ?? null, ...(d.disk.throttle ? { throttle: d.disk.throttle } : {}),
      })),
      jobs: thePlan.disks.map((d) => d.jobId),
      archivePartialDir: thePlan.partialDir,
      vmPausedByShear: false,
    }, o.journalDir ?? DEFAULT_JOURNAL_DIR);
    const theJournal = journal;
    await step('journal', async () => {
      // Lock first: a journal without a held lock would look orphaned to a concurrent `leftovers`.
      await theJournal.lock(warn);
      await theJournal.write();
    });

    const lock = o.platform?.lock;
    if (lock) {
      await step('lock', async () => {
        // Taken or not, nobody may be able to tell: then it is released if it is a backup lock (the unlock checks).
        await undo.take('release the backup lock', lock);
        // Recorded only once it is ours: cleanup must never release somebody else's lock.
        if (o.vm.proxmox) await theJournal.step('locked', { proxmoxLock: { vmid: o.vm.proxmox.vmid } });
      });
    }

    await step('archive-dir', async () => {
      // One command for the folder and every target image: each SSH command costs a channel.
      const r = await host.exec(['sh', '-c', DIR_SCRIPT_MKPARTIAL, 'shear-archive', thePlan.partialDir.replace(/\/[^/]+$/, ''), thePlan.partialDir,
        ...thePlan.disks.flatMap((d) => [`${thePlan.partialDir}/${d.targetFile}`, String(d.disk.sizeBytes)])], { timeoutMs: 60_000 }).catch((err: unknown) => {
        // The folder's name holds the run id: if the command may have made it, it can only be ours.
        if (outcomeUnknown(err)) partialDir = thePlan.partialDir;
        throw err;
      });
      // Ours to remove on any failure up to the final rename (see the catch below) once mkdir made it,
      // never when it failed: then the folder (if any) is somebody else's.
      if (r.code !== MKPARTIAL_NOT_MADE) partialDir = thePlan.partialDir;
      if (r.code !== 0) throw new Error(`cannot create the archive folder ${thePlan.partialDir} on ${host.label}: ${(r.stderr || r.stdout).trim() || `exit ${r.code ?? r.signal}`}`);
    });

    const images = new Map<number, StoredImage>();
    if (fleecing) {
      const storage = fleecing.storage;
      await step('allocate', async () => {
        // In parallel (each registers its own undo once allocated); a failure still waits for the others.
        await mapLimit(thePlan.disks, HOST_PARALLELISM, async (d) => {
          checkCancel();
          if (!d.fleece) return;
          const name = d.fleece.imageName;
          const node = d.fleece.node;
          const pushFree = (path: string) =>
            undo.push(`free ${name}`, async () => {
              // Freeing an image QEMU still writes through would hide it from leftovers and lose the space.
              if (attached.has(node)) {
                const pids = (await listVms(host)).map((v) => v.pid);
                const held = (await pathStates(host, [path], pids)).get(path)?.heldBy ?? [];
                if (held.length > 0) throw new Error(`fleecing node ${node} is still attached (QEMU pid ${held.join(', ')}); ${name} kept for \`shear cleanup\``);
              }
              await storage.free(host, name);
            }, 'always', 'free-fleecing-images');
          let image: StoredImage;
          try {
            image = await storage.allocate(host, name, d.disk.sizeBytes, d.fleece.format);
          } catch (err) {
            // The link died or time ran out under the command: the image may exist, so it is freed like one.
            if (outcomeUnknown(err)) pushFree(d.fleece.imagePath);
            throw err;
          }
          images.set(d.index, image);
          pushFree(image.path);
          log('info', `allocated ${image.path} (${image.sizeBytes} bytes)`, d.disk.device);
        });
      });
    }

    const lq = lease;
    let baseline = new Map<string, WriteCounters>();
    let { aio, why } = targetAio(caps, targetHost);
    await step('attach', async () => {
      const qmp = await lq.get();
      for (const [node, v] of readOnly) {
        removeNodeOnUndo(node);
        await addReadOnlyNode(qmp, { node, path: v.path, format: v.format, blockDevice: v.blockDevice });
      }
      for (const d of thePlan.disks) {
        checkCancel();
        const image = images.get(d.index);
        if (d.fleece && image) {
          removeNodeOnUndo(d.fleece.node);
          await addFleeceNode(qmp, { node: d.fleece.node, path: image.path, format: d.fleece.format, blockDevice: image.blockDevice, sizeBytes: d.disk.sizeBytes });
        }
        removeNodeOnUndo(d.targetNode);
        const path = `${thePlan.partialDir}/${d.targetFile}`;
        try {
          await addTargetNode(qmp, { node: d.targetNode, path, aio });
        } catch (err) {
          if (aio !== 'io_uring' || !isIoUringRefusal(err)) throw err;
          aio = 'threads';
          why = `QEMU could not set up io_uring (${(err as QmpCommandError).desc})`;
          await addTargetNode(qmp, { node: d.targetNode, path, aio });
        }
      }
      log('info', aio === 'io_uring'
        ? 'archive writes go through io_uring: a slow target cannot hold up the guest\'s I/O'
        : `archive writes go through QEMU's thread pool (${why}); each job keeps at most ${BACKUP_MAX_WORKERS} writes in flight so the guest's I/O finds free workers`);
      // The guest's write latency before the backup touches anything (since the VM started).
      baseline = await sampleWriteCounters(qmp, vm.disks);
      // A fleecing or target node smaller than its disk would abort the VM on the first write past its end.
      const nodes = await namedNodes(qmp);
      for (const d of thePlan.disks) {
        for (const node of [d.targetNode, ...(d.fleece ? [d.fleece.node] : []), ...(readOnly.has(d.disk.nodeName) ? [d.disk.nodeName] : [])]) {
          const size = nodeSize(nodes, node);
          if (size !== d.disk.sizeBytes) {
            throw new Error(`${d.disk.device}: node ${node} is ${size ?? 'missing'} bytes but the disk is ${d.disk.sizeBytes}; refusing to insert the filter`);
          }
        }
      }
      await lq.close();
    });

    const freeze: FreezeOutcome = await freezeGuest(host, vm, { warn, log });
    let frozen = freeze === 'frozen';
    const thawNow = async () => {
      if (!frozen) return;
      await thawGuest(host, vm);
      frozen = false;
    };
    undo.push('thaw guest filesystems', thawNow);

    const pauseMs = await step('start', async () => {
      const status = await (await lq.get()).execute('query-status');
      // A migration may have begun since the inspection.
      checkRunState(vm.name, status.status);
      const pause = status.status === 'running';
      // True from just before `stop` until Shear's own `cont` is known to have happened: only then
      // is a paused VM Shear's doing; a pause after that is the user's and stays.
      let pausedByShear = false;
      const resumeNow = async () => {
        if (!pausedByShear) return;
        // A fresh session if the window's one broke: the guest must not wait for the teardown.
        const q = await lq.get();
        if ((await q.execute('query-status')).status === 'paused') await q.execute('cont');
        pausedByShear = false;
        await theJournal.step('resumed', { vmPausedByShear: false });
      };
      // Recorded before the pause (outside the window): if Shear dies while the VM is stopped, cleanup resumes it.
      if (pause) {
        await theJournal.step('pausing', { vmPausedByShear: true });
        // Registered before `stop` is sent: a stop that times out may still take effect.
        undo.push('resume the VM', resumeNow);
      } else {
        log('info', `VM is ${status.status}; it stays that way (no pause/resume)`);
      }
      const qmp = await lq.get();
      const t0 = now();
      try {
        if (pause) {
          pausedByShear = true;
          await qmp.execute('stop');
        }
        // Every command of the window is sent at once and QEMU runs them in order: the pause lasts
        // QEMU's work, not one network round trip per command (8 disks: 24 commands).
        const sent: Array<Promise<unknown>> = [];
        const checks: Array<{ device: string; expected: string; got: Promise<string> }> = [];
        for (const d of thePlan.disks) {
          if (!d.fleece) continue;
          const f = d.fleece;
          // Each undo goes on the stack before its command: a command that times out may still have happened.
          removeNodeOnUndo(f.cbwNode);
          undo.push(`put ${d.disk.device} back on ${d.disk.nodeName}`, async () => {
            const q = await lq.get();
            await assertJobGone(q, d.jobId, `${d.disk.device}'s copy-before-write filter`);
            await restoreDevice(q, d.disk);
          });
          removeNodeOnUndo(f.snapNode);
          sent.push(addCbwFilter(qmp, caps, { node: f.cbwNode, source: d.disk.nodeName, fleece: f.node }));
          // Under a throttle filter the filter goes below it (the guest's I/O limits never slow the
          // backup's reads); otherwise the device itself is moved onto it.
          sent.push(d.disk.throttle ? setThrottleChild(qmp, d.disk.throttle, f.cbwNode) : setDeviceDrive(qmp, d.disk.qomPath, f.cbwNode));
          // -blockdev devices report the new node at once (cheap); -drive devices and throttle filters are checked after cont.
          if (!d.disk.blockBackend && !d.disk.throttle) {
            const got = deviceDrive(qmp, d.disk.qomPath);
            sent.push(got);
            checks.push({ device: d.disk.device, expected: f.cbwNode, got });
          }
          sent.push(addSnapshotAccess(qmp, { node: f.snapNode, cbw: f.cbwNode }));
        }
        // All replies are in before anything is judged (no command is left in flight behind an error).
        const replies = await Promise.allSettled(sent);
        const failed = replies.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failed) throw failed.reason;
        for (const c of checks) {
          if ((await c.got) !== c.expected) throw new Error(`${c.device}: the copy-before-write filter did not take its place under the device`);
        }
        // Test hook only (crash matrix): a point with every filter in and no job yet.
        await o.afterStep?.('filters');
        for (const d of thePlan.disks) {
          undo.push(`end job ${d.jobId}`, async ({ ok }) => {
            const q = await lq.get();
            if (ok) await q.execute('job-dismiss', { id: d.jobId });
            else {
              await cancelAndDismissJob(q, d.jobId, o.jobEndTimeoutMs).catch((err: unknown) => {
                jobsLeft.add(d.jobId);
                throw err;
              });
            }
          });
        }
        await startBackupJobs(qmp, thePlan.disks.map((d) => ({
          jobId: d.jobId,
          source: d.fleece ? d.fleece.snapNode : d.disk.nodeName,
          target: d.targetNode,
          speed: o.bwlimit ?? 0,
          discardSource: Boolean(d.fleece) && caps.discardSource,
          maxWorkers: caps.backupMaxWorkers ? BACKUP_MAX_WORKERS : null,
        })));
        if (pause) await qmp.execute('cont');
      } catch (err) {
        // The guest must not wait for the rest of the teardown: resume and thaw now (a filter in place is harmless).
        await resumeNow().catch((e: unknown) => warn(`could not resume the VM at once: ${(e as Error).message}`));
        await thawNow().catch((e: unknown) => warn(`guest agent thaw failed: ${(e as Error).message}`));
        throw err;
      }
      const ms = now() - t0;
      if (pause) {
        pausedByShear = false;
        // At once, not after the thaw: a pause from now on is the user's, and leftovers must say so.
        await theJournal.step('resumed', { vmPausedByShear: false });
      }
      log('info', pause ? `guest paused for ${ms} ms for one consistent point in time` : 'jobs started');
      // -drive devices: the BlockBackend keeps its name, so check the node under it instead.
      const blocks = await qmp.execute('query-block');
      for (const d of thePlan.disks) {
        if (!d.fleece || !d.disk.blockBackend || d.disk.throttle) continue;
        const under = blocks.find((b) => b.device === d.disk.blockBackend)?.inserted?.['node-name'];
        if (under !== d.fleece.cbwNode) throw new Error(`${d.disk.device}: the copy-before-write filter is not under the device (found ${under ?? 'nothing'})`);
      }
      // Throttle filters: their file edge must lead to the copy-before-write filter now.
      if (thePlan.disks.some((d) => d.fleece && d.disk.throttle)) {
        const graph = await blockGraph(qmp);
        for (const d of thePlan.disks) {
          if (!d.fleece || !d.disk.throttle) continue;
          const under = fileChildOf(graph, d.disk.throttle.node);
          if (under !== d.fleece.cbwNode) throw new Error(`${d.disk.device}: the copy-before-write filter is not under throttle filter ${d.disk.throttle.node} (found ${under ?? 'nothing'})`);
        }
      }
      await lq.close();
      return ms;
    });
    await thawNow().catch((err: unknown) => warn(`guest agent thaw failed: ${(err as Error).message}`));
    await journal.step('running', { state: 'running', vmPausedByShear: false });

    await step('copy', () =>
      monitorJobs({
        host,
        socket,
        jobs: thePlan.disks.map((d) => ({ jobId: d.jobId, disk: d.disk.device })),
        intervalMs: o.pollIntervalMs ?? 500,
        ...(o.stallTimeoutMs !== undefined ? { stallTimeoutMs: o.stallTimeoutMs } : {}),
        ...(o.signal ? { signal: o.signal } : {}),
        onProgress: (disk, done, total) => o.emit({ type: 'progress', disk, done, total, time: now() }),
        latency: { disks: vm.disks, baseline, onLatency: (disk, nowUs, beforeUs) => o.emit({ type: 'latency', disk, nowUs, beforeUs, time: now() }) },
        log,
      }),
    );

    await journal.step('tearing-down', { state: 'tearing-down' });
    await step('teardown', async () => {
      const report = await undo.unwind({ ok: true }, warn);
      await lq.close();
      if (report.failed.length > 0) {
        throw new BackupFailedError(`teardown failed: ${report.failed.map((f) => `${f.name}: ${f.error}`).join('; ')}`, report.failed);
      }
    });

    const finishedAt = new Date();
    const manifest: Manifest = {
      formatVersion: 1,
      tool: { name: 'shear', version: o.toolVersion },
      vm: { id: vm.id, name: vm.name },
      host: host.label,
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      qemuVersion: vm.qemuVersion,
      runState: vm.runState,
      pauseMs,
      fsFreeze: freeze,
      definition: 'definition.json',
      disks: thePlan.disks.map((d) => ({
        device: d.disk.device,
        file: d.targetFile,
        format: 'qcow2',
        size: d.disk.sizeBytes,
        fleecing: d.fleece !== null,
        role: d.disk.role,
        ...(d.disk.file.startsWith('/') && !readOnly.has(d.disk.nodeName) ? { source: { file: d.disk.file, format: d.disk.format } } : {}),
      })),
    };
    await step('verify', async () => {
      await mapLimit(thePlan.disks, HOST_PARALLELISM, async (d, i) => {
        const t0 = now();
        const sum = await checkArchivedImage(host, `${thePlan.partialDir}/${d.targetFile}`, d.disk.sizeBytes, o.signal);
        (manifest.disks[i] as Manifest['disks'][number]).checksum = { algorithm: sum.algorithm, digest: sum.digest };
        log('info', `checksum ${sum.algorithm} ${sum.digest} (${sum.dataChunks} data, ${sum.zeroChunks} zero chunks, ${now() - t0} ms)`, d.disk.device);
      });
    });
    await step('finish', async () => {
      const definition = o.platform?.definition ? await o.platform.definition() : { kind: 'qemu-command-line', pid: vm.pid, argv: vm.argv };
      await writeAndFinalizeArchive(host, thePlan.partialDir, thePlan.archiveDir, definition, manifest);
      partialDir = null;
    });
    await journal.remove();
    o.emit({ type: 'result', ok: true, archive: thePlan.archiveDir, time: now() });
    return { archiveDir: thePlan.archiveDir, manifest };
  } catch (err) {
    const error = err instanceof Error ? err : new Error(String(err));
    log('error', error.message);
    const report = await undo.unwind({ ok: false }, warn);
    await lease?.close().catch(() => undefined);
    if (partialDir && jobsLeft.size > 0) {
      // QEMU still has its images open, and on a stuck target even unlinking them waits for the
      // writes in flight (the file's lock): the folder is left to `shear cleanup`, named in the journal.
      const dir = partialDir;
      report.failed.push({ name: `remove ${dir}`, error: `jobs ${[...jobsLeft].join(', ')} still write into it` });
      warn(`the unfinished archive ${dir} stays until its jobs end; \`shear cleanup\` removes it then`);
    } else if (partialDir) {
      // Nothing that looks like a good backup may stay behind a failed run.
      const dir = partialDir;
      await host.execChecked(['rm', '-rf', '--', dir], { timeoutMs: 120_000 }).catch((e: unknown) => {
        report.failed.push({ name: `remove ${dir}`, error: (e as Error).message });
        warn(`could not remove the unfinished archive ${dir}: ${(e as Error).message}`);
      });
    }
    const failures = [...report.failed, ...(err instanceof BackupFailedError ? err.cleanupFailures : [])];
    if (journal) {
      if (failures.length === 0) await journal.remove().catch((e: unknown) => warn(`could not remove the run journal: ${(e as Error).message}`));
      else {
        warn(`cleanup was incomplete; the run journal ${journal.path} stays for \`shear leftovers\``);
        await journal.release().catch(() => undefined);
      }
    }
    o.emit({ type: 'result', ok: false, error: error.message, time: now() });
    if (error instanceof BackupCancelledError) throw error;
    throw new BackupFailedError(error.message, failures, { cause: error });
  } finally {
    offReconnect();
  }
}

/** As Proxmox does before every backup: clear what earlier failed runs of this VM left, or refuse if one is live. */
async function removeOwnOrphans(
  host: HostSession,
  vm: VmSummary,
  storage: Storage | null,
  journalDir: string,
  log: (level: 'info' | 'warn', message: string) => void,
  warn: (m: string) => void,
): Promise<void> {
  const scope = { journalDir, vmId: vm.id, storages: storage ? [storage] : [], warn };
  const scan = await scanLeftovers(host, scope);
  const live = scan.items.find((i) => i.class === 'in-use' && (i.kind === 'journal' || i.kind === 'filter' || i.kind === 'job'));
  if (live) throw new Error(`another backup of VM ${vm.name} is running: ${live.reason}`);
  const orphaned = scan.items.filter((i) => i.class === 'orphaned');
  if (orphaned.length === 0) return;
  log('warn', `cleaning up ${orphaned.length} trace(s) of earlier failed backups of ${vm.name} first`);
  const report = await cleanupLeftovers(host, { ...scope, ids: orphaned.map((i) => i.id) });
  for (const r of report.removed) log('info', `removed ${r.description}`);
  for (const r of report.skipped) log('warn', `left ${r.description}: ${r.reason}`);
  if (report.failed.length > 0) {
    throw new Error(`could not clean up after an earlier failed backup: ${report.failed.map((f) => `${f.description}: ${f.error}`).join('; ')}`);
  }
}

async function preflight(
  host: HostSession,
  vm: VmDetails,
  plan: BackupPlan,
  storage: Storage | null,
  targetDir: string,
  warn: (m: string) => void,
): Promise<TargetHost> {
  const fleeced = plan.disks.filter((d) => d.fleece);
  const fleecingStorage = storage && fleeced.length > 0 ? storage : null;
  // All questions at once (one SSH channel).
  const [free, dfOut, python, ioUringSysctl] = await Promise.all([
    fleecingStorage ? fleecingStorage.freeBytes(host) : Promise.resolve(null),
    host.execChecked(['df', '-B1', '--output=avail,fstype', '--', targetDir]).catch((err: unknown) => {
      throw new Error(`target ${targetDir} is not usable on ${host.label}: ${(err as Error).message}`);
    }),
    // Presence only (a shell builtin, no interpreter start-up inside the setup time).
    host.exec(['sh', '-c', 'command -v python3 >/dev/null || exit 127']),
    // Whether QEMU may set up io_uring for the archive (target-io.ts); absent on kernels before 6.6.
    host.exec(['cat', '/proc/sys/kernel/io_uring_disabled']),
  ]);
  // The archive's checksums are taken on the host by python3: without it every copy would be thrown away at the end.
  if (python.code !== 0) {
    throw new Error(`${host.label}: backups need python3 on the host for their checksums (Debian/Proxmox: apt install python3)`);
  }
  if (fleecingStorage && free !== null) {
    const need = fleeced.reduce((sum, d) => sum + d.disk.sizeBytes, 0);
    if (free < need) {
      const msg = `fleecing storage ${fleecingStorage.spec} has ${free} bytes free; the fleecing images may grow to ${need} bytes if the guest rewrites every block during the backup`;
      if (!fleecingStorage.thin) throw new Error(msg);
      warn(msg);
    }
  }
  // `df --output=avail,fstype`: a header, then e.g. "  52613349376 nfs4".
  const [availText, fsType] = (dfOut.stdout.trim().split('\n').pop() ?? '').trim().split(/\s+/);
  const targetFree = Number(availText);
  const total = vm.disks.reduce((s, d) => s + d.sizeBytes, 0);
  if (Number.isFinite(targetFree) && targetFree < total) {
    warn(`target ${targetDir} has ${targetFree} bytes free and the disks are ${total} bytes (only data is stored; this may still fit)`);
  }
  return { fsType: fsType || null, ioUringDisabled: ioUringDisabledBy(ioUringSysctl.code === 0 ? ioUringSysctl.stdout : '') };
}
