import type { Manifest, RunEvent, VmDetails, VmSummary } from '../../../shared/model.js';
import type { HostSession } from '../hosts/host-session.js';
import { inspectVm } from '../hosts/vm-inspect.js';
import { probeCapabilities } from '../qmp/capabilities.js';
import { QmpLease } from '../qmp/lease.js';
import { withQmp } from '../qmp/session.js';
import type { Storage, StoredImage } from '../storage/storage.js';
import { writeArchiveFiles, finalizeArchive, verifyTargetImage } from './archive.js';
import { freezeGuest, thawGuest, type FreezeOutcome } from './freeze.js';
import {
  addCbwFilter,
  addFleeceNode,
  addSnapshotAccess,
  addTargetNode,
  cancelAndDismissJob,
  deleteNode,
  deviceDrive,
  namedNodes,
  nodeSize,
  setDeviceDrive,
  startBackupJobs,
} from './graph.js';
import { DEFAULT_JOURNAL_DIR, RunJournal } from './journal.js';
import { monitorJobs } from './monitor.js';
import { newRunId, planBackup, type BackupPlan, type FleecingFormatChoice } from './plan.js';
import { UndoStack } from './undo-stack.js';
import { BackupCancelledError, BackupFailedError } from './errors.js';

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
  /** Called after each lifecycle step completed (crash tests stop the process here). */
  afterStep?: (step: string) => Promise<void> | void;
}

export interface BackupResult {
  archiveDir: string;
  manifest: Manifest;
}

const DIR_SCRIPT_MKPARTIAL = 'mkdir -p -- "$1" && mkdir -- "$2"';

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
  let journal: RunJournal | null = null;
  let lease: QmpLease | null = null;
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
    const { vm, caps } = await step('inspect', async () => {
      const details = await inspectVm(host, o.vm);
      const socket = details.qmpSockets[0] as string;
      const capabilities = await withQmp(host.qmp, socket, probeCapabilities);
      log('info', `VM ${details.name} (${details.runState}) on QEMU ${details.qemuVersion}: ${details.disks.length} disk(s)`);
      return { vm: details, caps: capabilities };
    });
    const socket = vm.qmpSockets[0] as string;
    lease = new QmpLease(host.qmp, socket);
    if (vm.disks.length === 0) throw new Error(`VM ${vm.name} has no writable disks to back up`);

    let fleecing = o.fleecing;
    if (fleecing && !caps.fleecing) {
      warn(`QEMU ${vm.qemuVersion} on ${host.label} cannot fleece (needs copy-before-write, snapshot-access and blockdev-backup); backing up without fleecing`);
      fleecing = null;
    }
    const runId = newRunId();
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

    await step('preflight', () => preflight(host, vm, thePlan, fleecing?.storage ?? null, o.targetDir, warn));

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
      nodes: thePlan.disks.flatMap((d) => [d.targetNode, ...(d.fleece ? [d.fleece.node, d.fleece.cbwNode, d.fleece.snapNode] : [])]),
      devices: thePlan.disks.map((d) => ({ device: d.disk.device, qomPath: d.disk.qomPath, originalNode: d.disk.nodeName, cbwNode: d.fleece?.cbwNode ?? null })),
      jobs: thePlan.disks.map((d) => d.jobId),
      archivePartialDir: thePlan.partialDir,
    }, o.journalDir ?? DEFAULT_JOURNAL_DIR);
    const theJournal = journal;
    await step('journal', async () => {
      await theJournal.write();
      await theJournal.lock();
    });

    await step('archive-dir', async () => {
      await host.execChecked(['sh', '-c', DIR_SCRIPT_MKPARTIAL, 'shear-archive', thePlan.partialDir.replace(/\/[^/]+$/, ''), thePlan.partialDir]);
      undo.push('remove partial archive', () => host.execChecked(['rm', '-rf', '--', thePlan.partialDir]).then(() => undefined), 'on-failure');
      for (const d of thePlan.disks) {
        await host.execChecked(['qemu-img', 'create', '-q', '-f', 'qcow2', `${thePlan.partialDir}/${d.targetFile}`, String(d.disk.sizeBytes)]);
      }
    });

    const images = new Map<number, StoredImage>();
    if (fleecing) {
      const storage = fleecing.storage;
      await step('allocate', async () => {
        for (const d of thePlan.disks) {
          checkCancel();
          if (!d.fleece) continue;
          const image = await storage.allocate(host, d.fleece.imageName, d.disk.sizeBytes, d.fleece.format);
          images.set(d.index, image);
          const name = d.fleece.imageName;
          undo.push(`free ${name}`, () => storage.free(host, name));
          log('info', `allocated ${image.path} (${image.sizeBytes} bytes)`, d.disk.device);
        }
      });
    }

    const lq = lease;
    await step('attach', async () => {
      const qmp = await lq.get();
      for (const d of thePlan.disks) {
        checkCancel();
        const image = images.get(d.index);
        if (d.fleece && image) {
          await addFleeceNode(qmp, { node: d.fleece.node, path: image.path, format: d.fleece.format, blockDevice: image.blockDevice, sizeBytes: d.disk.sizeBytes });
          const fl = d.fleece.node;
          undo.push(`delete node ${fl}`, async () => deleteNode(await lq.get(), fl));
        }
        await addTargetNode(qmp, { node: d.targetNode, path: `${thePlan.partialDir}/${d.targetFile}` });
        const tgt = d.targetNode;
        undo.push(`delete node ${tgt}`, async () => deleteNode(await lq.get(), tgt));
      }
      // A fleecing or target node smaller than its disk would abort the VM on the first write past its end.
      const nodes = await namedNodes(qmp);
      for (const d of thePlan.disks) {
        for (const node of [d.targetNode, ...(d.fleece ? [d.fleece.node] : [])]) {
          const size = nodeSize(nodes, node);
          if (size !== d.disk.sizeBytes) {
            throw new Error(`${d.disk.device}: node ${node} is ${size ?? 'missing'} bytes but the disk is ${d.disk.sizeBytes}; refusing to insert the filter`);
          }
        }
      }
      await lq.close();
    });

    const freeze: FreezeOutcome = await freezeGuest(host, vm, { warn, log });
    if (freeze === 'frozen') undo.push('thaw guest filesystems', () => thawGuest(host, vm).then(() => undefined));

    const pauseMs = await step('start', async () => {
      const qmp = await lq.get();
      const status = await qmp.execute('query-status');
      const t0 = now();
      const pause = status.status === 'running';
      if (pause) {
        await qmp.execute('stop');
        // On success the VM was resumed right after the jobs started; this is for failures inside the window.
        undo.push('resume the VM', async ({ ok }) => {
          if (ok) return;
          const q = await lq.get();
          if ((await q.execute('query-status')).status === 'paused') await q.execute('cont');
        });
      } else {
        log('info', `VM is ${status.status}; it stays that way (no pause/resume)`);
      }
      for (const d of thePlan.disks) {
        if (!d.fleece) continue;
        const f = d.fleece;
        await addCbwFilter(qmp, caps, { node: f.cbwNode, source: d.disk.nodeName, fleece: f.node });
        undo.push(`delete node ${f.cbwNode}`, async () => deleteNode(await lq.get(), f.cbwNode));
        await setDeviceDrive(qmp, d.disk.qomPath, f.cbwNode);
        undo.push(`put ${d.disk.device} back on ${d.disk.nodeName}`, async () => setDeviceDrive(await lq.get(), d.disk.qomPath, d.disk.nodeName));
        // -blockdev devices report the new node at once (cheap); -drive devices are checked after cont.
        if (!d.disk.blockBackend && (await deviceDrive(qmp, d.disk.qomPath)) !== f.cbwNode) {
          throw new Error(`${d.disk.device}: the copy-before-write filter did not take its place under the device`);
        }
        await addSnapshotAccess(qmp, { node: f.snapNode, cbw: f.cbwNode });
        undo.push(`delete node ${f.snapNode}`, async () => deleteNode(await lq.get(), f.snapNode));
      }
      await startBackupJobs(qmp, thePlan.disks.map((d) => ({
        jobId: d.jobId,
        source: d.fleece ? d.fleece.snapNode : d.disk.nodeName,
        target: d.targetNode,
        speed: o.bwlimit ?? 0,
        discardSource: Boolean(d.fleece) && caps.discardSource,
      })));
      for (const d of thePlan.disks) {
        undo.push(`end job ${d.jobId}`, async ({ ok }) => {
          const q = await lq.get();
          if (ok) await q.execute('job-dismiss', { id: d.jobId });
          else await cancelAndDismissJob(q, d.jobId);
        });
      }
      if (pause) await qmp.execute('cont');
      const ms = now() - t0;
      log('info', pause ? `guest paused for ${ms} ms for one consistent point in time` : 'jobs started');
      // -drive devices: the BlockBackend keeps its name, so check the node under it instead.
      const blocks = await qmp.execute('query-block');
      for (const d of thePlan.disks) {
        if (!d.fleece || !d.disk.blockBackend) continue;
        const now2 = blocks.find((b) => b.device === d.disk.blockBackend)?.inserted?.['node-name'];
        if (now2 !== d.fleece.cbwNode) throw new Error(`${d.disk.device}: the copy-before-write filter is not under the device (found ${now2 ?? 'nothing'})`);
      }
      await lq.close();
      return ms;
    });
    if (freeze === 'frozen') await thawGuest(host, vm).catch((err: unknown) => warn(`guest agent thaw failed: ${(err as Error).message}`));
    await journal.step('running', { state: 'running' });

    await step('copy', () =>
      monitorJobs({
        host,
        socket,
        jobs: thePlan.disks.map((d) => ({ jobId: d.jobId, disk: d.disk.device })),
        intervalMs: o.pollIntervalMs ?? 500,
        ...(o.signal ? { signal: o.signal } : {}),
        onProgress: (disk, done, total) => o.emit({ type: 'progress', disk, done, total, time: now() }),
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
      })),
    };
    await step('verify', async () => {
      for (const d of thePlan.disks) await verifyTargetImage(host, `${thePlan.partialDir}/${d.targetFile}`, d.disk.sizeBytes);
    }).catch(async (err: unknown) => {
      await host.execChecked(['rm', '-rf', '--', thePlan.partialDir]).catch(() => undefined);
      throw err;
    });
    await step('finish', async () => {
      await writeArchiveFiles(host, thePlan.partialDir, vm, manifest);
      await finalizeArchive(host, thePlan.partialDir, thePlan.archiveDir);
    });
    await journal.remove();
    o.emit({ type: 'result', ok: true, archive: thePlan.archiveDir, time: now() });
    return { archiveDir: thePlan.archiveDir, manifest };
  } catch (err) {
    const error = err instanceof Error ? err : new Error(String(err));
    log('error', error.message);
    const report = await undo.unwind({ ok: false }, warn);
    await lease?.close().catch(() => undefined);
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

async function preflight(
  host: HostSession,
  vm: VmDetails,
  plan: BackupPlan,
  storage: Storage | null,
  targetDir: string,
  warn: (m: string) => void,
): Promise<void> {
  const fleeced = plan.disks.filter((d) => d.fleece);
  if (storage && fleeced.length > 0) {
    const need = fleeced.reduce((sum, d) => sum + d.disk.sizeBytes, 0);
    const free = await storage.freeBytes(host);
    if (free < need) {
      const msg = `fleecing storage ${storage.spec} has ${free} bytes free; the fleecing images may grow to ${need} bytes if the guest rewrites every block during the backup`;
      if (!storage.thin) throw new Error(msg);
      warn(msg);
    }
  }
  const dfOut = await host.execChecked(['df', '-B1', '--output=avail', '--', targetDir]).catch((err: unknown) => {
    throw new Error(`target ${targetDir} is not usable on ${host.label}: ${(err as Error).message}`);
  });
  const targetFree = Number(dfOut.stdout.trim().split('\n').pop());
  const total = vm.disks.reduce((s, d) => s + d.sizeBytes, 0);
  if (Number.isFinite(targetFree) && targetFree < total) {
    warn(`target ${targetDir} has ${targetFree} bytes free and the disks are ${total} bytes (only data is stored; this may still fit)`);
  }
}
