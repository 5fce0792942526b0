import type { ImageFormat, VmDisk } from '../../../shared/model.js';
import type { QemuCapabilities } from '../qmp/capabilities.js';
import { blockGraph, fileChildOf, setThrottleChild } from '../qmp/block-graph.js';
import type { QmpClient } from '../qmp/client.js';
import type { JobInfo, NamedBlockNode } from '../qmp/types.js';
import type { TargetAio } from './target-io.js';

/**
 * The block-graph operations of fleecing (docs/fleecing.md), one QMP
 * command each, so the runner can register an undo right after each succeeds.
 */

/** Proxmox waits 45 s: Windows virtio drivers give up on a request after 60 s. */
export const CBW_TIMEOUT_S = 45;

function fileChild(path: string, blockDevice: boolean): Record<string, unknown> {
  return { driver: blockDevice ? 'host_device' : 'file', filename: path, discard: 'unmap' };
}

/** Opens a fleecing image; raw gets an explicit size (an LV or zvol may be larger than the disk). */
export async function addFleeceNode(
  qmp: QmpClient,
  o: { node: string; path: string; format: ImageFormat; blockDevice: boolean; sizeBytes: number },
): Promise<void> {
  const args: Record<string, unknown> = { driver: o.format, 'node-name': o.node, discard: 'unmap', file: fileChild(o.path, o.blockDevice) };
  if (o.format === 'raw') args.size = o.sizeBytes;
  await qmp.execute('blockdev-add', args);
}

/** A volume QEMU does not hold (Proxmox's TPM state), opened read-only as a backup source only. */
export async function addReadOnlyNode(qmp: QmpClient, o: { node: string; path: string; format: string; blockDevice: boolean }): Promise<void> {
  await qmp.execute('blockdev-add', {
    driver: o.format,
    'node-name': o.node,
    'read-only': true,
    file: { driver: o.blockDevice ? 'host_device' : 'file', filename: o.path, 'read-only': true },
  });
}

/**
 * The archive image the job writes. `aio` says how QEMU submits the writes: with `threads` they
 * take workers of the thread pool the guest's own disk I/O needs too (target-io.ts).
 */
export async function addTargetNode(qmp: QmpClient, o: { node: string; path: string; aio: TargetAio }): Promise<void> {
  await qmp.execute('blockdev-add', { driver: 'qcow2', 'node-name': o.node, file: { driver: 'file', filename: o.path, aio: o.aio } });
}

export async function deleteNode(qmp: QmpClient, node: string): Promise<void> {
  await qmp.execute('blockdev-del', { 'node-name': node });
}

/** QEMU's answer when a node is not there (blockdev-del: "Failed to find node with node-name=…"; older: "Cannot find …"). */
export function isMissingNodeError(err: unknown): boolean {
  return /Cannot find|Failed to find/i.test(err instanceof Error ? err.message : String(err));
}

/** Undo of a blockdev-add that may or may not have happened (e.g. it timed out). */
export async function deleteNodeIfPresent(qmp: QmpClient, node: string): Promise<void> {
  try {
    await deleteNode(qmp, node);
  } catch (err) {
    if (isMissingNodeError(err)) return;
    throw err;
  }
}

/** The node directly under a disk's device now. */
export async function currentDeviceNode(qmp: QmpClient, disk: Pick<VmDisk, 'blockBackend' | 'qomPath'>): Promise<string | undefined> {
  const blocks = await qmp.execute('query-block');
  const block = blocks.find((b) =>
    disk.blockBackend ? b.device === disk.blockBackend : b.qdev === disk.qomPath || `/machine/peripheral/${b.qdev ?? ''}` === disk.qomPath);
  return block?.inserted?.['node-name'];
}

/**
 * Puts a device back on its original node (or its throttle filter back on it), unless it
 * already is: the qom-set or reopen may never have happened.
 */
export async function restoreDevice(qmp: QmpClient, disk: Pick<VmDisk, 'blockBackend' | 'qomPath' | 'nodeName' | 'throttle'>): Promise<void> {
  if (disk.throttle) {
    if (fileChildOf(await blockGraph(qmp), disk.throttle.node) === disk.nodeName) return;
    await setThrottleChild(qmp, disk.throttle, disk.nodeName);
    return;
  }
  if ((await currentDeviceNode(qmp, disk)) === disk.nodeName) return;
  await setDeviceDrive(qmp, disk.qomPath, disk.nodeName);
}

export async function namedNodes(qmp: QmpClient): Promise<NamedBlockNode[]> {
  return qmp.execute('query-named-block-nodes', { flat: true });
}

/** The virtual size QEMU sees for a node: the check that must pass before any filter goes in. */
export function nodeSize(nodes: NamedBlockNode[], node: string): number | null {
  return nodes.find((n) => n['node-name'] === node)?.image['virtual-size'] ?? null;
}

export async function addCbwFilter(qmp: QmpClient, caps: QemuCapabilities, o: { node: string; source: string; fleece: string }): Promise<void> {
  const args: Record<string, unknown> = { driver: 'copy-before-write', 'node-name': o.node, file: o.source, target: o.fleece };
  // break-snapshot: a full or failing fleecing image ends the backup, never a guest write.
  if (caps.onCbwError) args['on-cbw-error'] = 'break-snapshot';
  if (caps.cbwTimeout) args['cbw-timeout'] = CBW_TIMEOUT_S;
  await qmp.execute('blockdev-add', args);
}

export async function addSnapshotAccess(qmp: QmpClient, o: { node: string; cbw: string }): Promise<void> {
  await qmp.execute('blockdev-add', { driver: 'snapshot-access', 'node-name': o.node, file: o.cbw });
}

export async function setDeviceDrive(qmp: QmpClient, qomPath: string, node: string): Promise<void> {
  await qmp.execute('qom-set', { path: qomPath, property: 'drive', value: node });
}

export async function deviceDrive(qmp: QmpClient, qomPath: string): Promise<string> {
  return String(await qmp.execute('qom-get', { path: qomPath, property: 'drive' }));
}

export interface BackupJobSpec {
  jobId: string;
  source: string;
  target: string;
  /** Bytes per second; 0 = unlimited. */
  speed: number;
  discardSource: boolean;
  /** Requests the job keeps in flight (`x-perf.max-workers`); null leaves QEMU's default (64). */
  maxWorkers: number | null;
}

/** Starts every job in one transaction: they all begin at the same instant. */
export async function startBackupJobs(qmp: QmpClient, jobs: BackupJobSpec[]): Promise<void> {
  await qmp.execute('transaction', {
    actions: jobs.map((j) => ({
      type: 'blockdev-backup',
      data: {
        'job-id': j.jobId,
        device: j.source,
        target: j.target,
        sync: 'full',
        'auto-dismiss': false,
        ...(j.speed > 0 ? { speed: j.speed } : {}),
        ...(j.discardSource ? { 'discard-source': true } : {}),
        ...(j.maxWorkers !== null ? { 'x-perf': { 'max-workers': j.maxWorkers } } : {}),
      },
    })),
  });
}

export async function queryJobs(qmp: QmpClient, options: { timeoutMs?: number } = {}): Promise<JobInfo[]> {
  return qmp.execute('query-jobs', undefined, options);
}

/**
 * Refuses while a job is still in QEMU. A job that cannot end waits for writes its target does
 * not complete (a NAS that stopped answering). Moving a device off its copy-before-write filter
 * then would drain that job from QEMU's main loop, and the main loop (and with it the guest)
 * would hang until the target answers. The filter itself is harmless to the guest, so it stays.
 */
export async function assertJobGone(qmp: QmpClient, job: string | ((id: string) => boolean), what: string): Promise<void> {
  const found = (await queryJobs(qmp)).find((j) => (typeof job === 'string' ? j.id === job : job(j.id)));
  if (!found) return;
  throw new Error(`job ${found.id} has not ended (${found.status}: its target is not completing writes); ${what} stays as it is, which the guest does not notice. Run \`shear cleanup\` once the target answers again`);
}

/** Cancels a job if it still runs and waits until it concluded, then dismisses it. */
export async function cancelAndDismissJob(qmp: QmpClient, jobId: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = (await queryJobs(qmp)).find((j) => j.id === jobId);
    if (!job) return;
    if (job.status === 'concluded') {
      await qmp.execute('job-dismiss', { id: jobId });
      return;
    }
    if (job.status !== 'aborting') {
      await qmp.execute('job-cancel', { id: jobId }).catch(() => {
        // It may have concluded in between; the next query tells.
      });
    }
    if (Date.now() > deadline) throw new Error(`job ${jobId} did not end within ${timeoutMs} ms of being cancelled (status ${job.status})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
