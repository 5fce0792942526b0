import type { CleanupReport, Leftover } from '../../../shared/model.js';
import { assertJobGone, cancelAndDismissJob, deleteNode, isMissingNodeError, setDeviceDrive } from '../backup/graph.js';
import type { HostSession } from '../hosts/host-session.js';
import { blockGraph, fileChildOf, setThrottleChild, throttleFilterOf } from '../qmp/block-graph.js';
import { QmpLease } from '../qmp/lease.js';
import type { QmpClient } from '../qmp/client.js';
import { listVms } from '../hosts/discovery.js';
import { pathStates, type PathState } from './host-probe.js';
import { scanLeftovers, THROTTLED_FILTER, type ScanOptions, type ScanResult, type VmTraces } from './scan.js';

/**
 * Removes leftovers in the safe order: jobs, snapshot-access nodes, each device
 * back on its original node, filters, fleecing and target nodes, a VM paused by
 * a dead run resumed, images freed, half-written archives deleted, journals
 * dropped. It scans again first and acts only on what is there NOW and still
 * classified as removable, so running it twice is harmless and an item that
 * became in use meanwhile is left alone. One failure never stops the rest.
 */

export interface CleanupOptions extends ScanOptions {
  /** Ids of the items the caller chose (typically every orphaned one). */
  ids: string[];
  /** Unknown-origin items the user explicitly named; everything else unknown is skipped. */
  includeUnknown?: string[];
  /** How long to wait for a cancelled job to end (default 60 s); tests shorten it. */
  jobEndTimeoutMs?: number;
}

const NODE_ORDER = ['snap', 'cbw', 'fl', 'tgt'];
const suffixRank = (node: string) => {
  const i = NODE_ORDER.indexOf(node.split('-').pop() ?? '');
  return i < 0 ? NODE_ORDER.length : i;
};

/** The node a copy-before-write filter sits on: from the run's journal, else from QEMU's graph. */
async function originalNode(qmp: QmpClient, scan: ScanResult, vmId: string, device: string, filterNode: string): Promise<string> {
  for (const j of scan.journals) {
    const d = j.record.devices.find((x) => x.cbwNode === filterNode);
    if (d && j.record.vm.id === vmId) return d.originalNode;
  }
  // No journal: follow the filter's `file` edge in the block graph.
  const child = fileChildOf(await blockGraph(qmp), filterNode);
  if (!child) throw new Error(`cannot tell which node ${device} was on before filter ${filterNode}`);
  return child;
}

/** The thing was removed in between (by QEMU, the user or another cleanup): a node, a job or a volume. */
function isGone(err: unknown): boolean {
  const m = err instanceof Error ? err.message : String(err);
  return isMissingNodeError(err) || /not found|No job with ID|does not exist/i.test(m);
}

export async function cleanupLeftovers(host: HostSession, o: CleanupOptions): Promise<CleanupReport> {
  const report: CleanupReport = { removed: [], skipped: [], failed: [] };
  const scan = await scanLeftovers(host, o);
  const include = new Set(o.includeUnknown ?? []);
  const wanted = new Set([...o.ids, ...include]);
  const current = new Map(scan.items.map((i) => [i.id, i]));
  for (const id of wanted) {
    if (!current.has(id)) report.skipped.push({ id, description: id, reason: 'no longer present' });
  }
  const selected: Leftover[] = [];
  for (const item of scan.items) {
    if (!wanted.has(item.id)) continue;
    if (item.class === 'in-use') report.skipped.push({ id: item.id, description: item.description, reason: `in use: ${item.reason}` });
    else if (item.class === 'unknown' && !include.has(item.id)) {
      report.skipped.push({ id: item.id, description: item.description, reason: `unknown origin (${item.reason}); name it explicitly to remove it` });
    } else selected.push(item);
  }

  const attempt = async (item: Leftover, action: () => Promise<void>) => {
    try {
      await action();
      report.removed.push({ id: item.id, description: item.description });
    } catch (err) {
      if (isGone(err)) report.removed.push({ id: item.id, description: `${item.description} (already gone)` });
      else report.failed.push({ id: item.id, description: item.description, error: (err as Error).message });
    }
  };

  // Inside each VM, in graph order, over one short QMP session per VM.
  for (const t of scan.vms) {
    const mine = selected.filter((i) => i.vm === t.vm.id && ['job', 'filter', 'node', 'paused-vm'].includes(i.kind));
    if (mine.length === 0) continue;
    await cleanVm(host, t, mine, scan, attempt, o.jobEndTimeoutMs);
  }

  // A Proxmox backup lock goes once the VM's graph is clean: `qm unlock` only if it is still `backup`.
  for (const item of selected.filter((i) => i.kind === 'vm-lock')) {
    const vmid = item.id.slice('vm-lock:'.length);
    await attempt(item, async () => {
      const r = await host.execChecked(['pvesh', 'get', `/nodes/localhost/qemu/${vmid}/config`, '--current', '1', '--output-format', 'json']);
      if ((JSON.parse(r.stdout) as { lock?: string }).lock === 'backup') await host.execChecked(['qm', 'unlock', vmid]);
    });
  }

  // Images: look again right before freeing; an image a QEMU holds open is never freed.
  const images = selected.filter((i) => i.kind === 'image');
  const states = images.length > 0 ? await pathStates(host, images.map((i) => i.path ?? ''), (await listVms(host)).map((v) => v.pid)) : new Map<string, PathState>();
  for (const item of images) {
    const held = states.get(item.path ?? '')?.heldBy ?? [];
    if (held.length > 0) {
      report.skipped.push({ id: item.id, description: item.description, reason: `held open by QEMU (pid ${held.join(', ')})` });
      continue;
    }
    const storage = scan.storages.get(item.storage ?? '');
    const name = item.id.slice(`image:${item.storage ?? ''}:`.length);
    await attempt(item, async () => {
      if (!storage) throw new Error(`storage ${item.storage ?? '?'} is not known`);
      await storage.free(host, name);
    });
  }

  for (const item of selected.filter((i) => i.kind === 'partial-archive')) {
    // A job that did not end still writes into the folder; on a stuck target even unlinking its files waits.
    const jobLeft = report.failed.some((r) => current.get(r.id)?.kind === 'job' && current.get(r.id)?.runId === item.runId);
    if (jobLeft) {
      report.skipped.push({ id: item.id, description: item.description, reason: 'kept: a job of this run has not ended and still writes into it' });
      continue;
    }
    await attempt(item, async () => {
      if (!item.path?.endsWith('.partial')) throw new Error('refusing to delete a folder that is not a .partial archive');
      await host.execChecked(['rm', '-rf', '--', item.path]);
    });
  }

  // A journal goes last, and only when nothing of its run stays behind.
  for (const item of selected.filter((i) => i.kind === 'journal')) {
    const runLeft = [...report.failed, ...report.skipped].some((r) => current.get(r.id)?.runId === item.runId && r.id !== item.id);
    if (runLeft) {
      report.skipped.push({ id: item.id, description: item.description, reason: 'kept: other traces of this run are still there' });
      continue;
    }
    await attempt(item, async () => {
      const path = item.path ?? '';
      await host.execChecked(['rm', '-f', '--', path, path.replace(/\.json$/, '.lock')]);
    });
  }
  return report;
}

/** A job of a Shear run: while one is still in the VM, its filters stay (graph.ts, assertJobGone). */
const isShearJob = (id: string) => id.startsWith('shear-');

async function cleanVm(
  host: HostSession,
  t: VmTraces,
  items: Leftover[],
  scan: ScanResult,
  attempt: (item: Leftover, action: () => Promise<void>) => Promise<void>,
  jobEndTimeoutMs: number | undefined,
): Promise<void> {
  const lease = new QmpLease(host.qmp, t.socket);
  try {
    for (const item of items.filter((i) => i.kind === 'job')) {
      await attempt(item, async () => cancelAndDismissJob(await lease.get(), item.id.split(':').pop() ?? '', jobEndTimeoutMs));
    }
    const nodes = items.filter((i) => i.kind === 'node').map((i) => ({ item: i, node: i.id.split(':').pop() ?? '' }));
    for (const { item, node } of nodes.filter((n) => suffixRank(n.node) === 0)) {
      await attempt(item, async () => deleteNode(await lease.get(), node));
    }
    for (const item of items.filter((i) => i.kind === 'filter' && i.id.startsWith(`${THROTTLED_FILTER}:`))) {
      const throttleNode = item.id.slice(`${THROTTLED_FILTER}:${t.vm.id}:`.length);
      await attempt(item, async () => {
        const qmp = await lease.get();
        await assertJobGone(qmp, isShearJob, `throttle filter ${throttleNode}`);
        const [graph, nodes] = await Promise.all([blockGraph(qmp), qmp.execute('query-named-block-nodes', { flat: true })]);
        const cbw = fileChildOf(graph, throttleNode);
        if (!cbw?.startsWith('shear-')) return; // put back in between
        // The run's journal knows the node it was on; else the filter's own file edge says.
        const recorded = scan.journals.flatMap((j) => j.record.devices).find((d) => d.cbwNode === cbw && d.throttle?.node === throttleNode);
        const original = recorded?.originalNode ?? fileChildOf(graph, cbw);
        const throttle = recorded?.throttle ?? throttleFilterOf(nodes, throttleNode);
        if (!original || !throttle) throw new Error(`cannot tell which node throttle filter ${throttleNode} was on before filter ${cbw}`);
        await setThrottleChild(qmp, throttle, original);
      });
    }
    for (const item of items.filter((i) => i.kind === 'filter' && !i.id.startsWith(`${THROTTLED_FILTER}:`))) {
      const device = item.id.slice(`filter:${t.vm.id}:`.length);
      const block = t.blocks.find((b) => (b.qdev ?? b.device) === device);
      const filterNode = block?.inserted?.['node-name'] ?? '';
      await attempt(item, async () => {
        const qmp = await lease.get();
        await assertJobGone(qmp, isShearJob, `device ${device}`);
        const original = await originalNode(qmp, scan, t.vm.id, device, filterNode);
        const qomPath = block?.qdev ? (block.qdev.startsWith('/') ? block.qdev : `/machine/peripheral/${block.qdev}`) : '';
        if (!qomPath) throw new Error(`device ${device} has no QOM path to restore`);
        await setDeviceDrive(qmp, qomPath, original);
      });
    }
    for (const { item, node } of nodes.filter((n) => suffixRank(n.node) > 0).sort((a, b) => suffixRank(a.node) - suffixRank(b.node))) {
      await attempt(item, async () => deleteNode(await lease.get(), node));
    }
    for (const item of items.filter((i) => i.kind === 'paused-vm')) {
      await attempt(item, async () => {
        const qmp = await lease.get();
        if ((await qmp.execute('query-status')).status === 'paused') await qmp.execute('cont');
      });
    }
  } finally {
    await lease.close().catch(() => undefined);
  }
}
