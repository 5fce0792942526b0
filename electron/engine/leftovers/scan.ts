import type { Leftover, LeftoverClass, VmSummary } from '../../../shared/model.js';
import { DEFAULT_JOURNAL_DIR } from '../backup/journal.js';
import { FLEECE_NAME_PATTERN } from '../backup/plan.js';
import { listVms } from '../hosts/discovery.js';
import type { HostSession } from '../hosts/host-session.js';
import { withFirstFreeMonitor } from '../hosts/vm-inspect.js';
import { blockGraph, fileParentsOf, type BlockGraph } from '../qmp/block-graph.js';
import type { BlockInfo, JobInfo, NamedBlockNode } from '../qmp/types.js';
import { parseStorageSpec, type Storage } from '../storage/storage.js';
import { pathStates, readJournals, type JournalOnHost } from './host-probe.js';

/**
 * Finds every trace of Shear runs that are not live: journals, `shear-` jobs
 * and nodes inside running VMs (a filter under a device first: the guest pays
 * for it on every write), fleecing images and half-written archives — and says
 * for each whether it may be removed.
 */

export interface ScanOptions {
  journalDir?: string;
  /** Fleecing storages to search for images (those named in journals are searched too). */
  storages?: Storage[];
  /** Only traces of this VM (the check before a backup). */
  vmId?: string;
  warn?: (message: string) => void;
}

/** What one VM showed, kept for cleanup. */
export interface VmTraces {
  vm: VmSummary;
  /** The monitor that answered the scan (another may be held by a long-lived client). */
  socket: string;
  status: string;
  jobs: JobInfo[];
  nodes: NamedBlockNode[];
  blocks: BlockInfo[];
  /** The block graph, read when the VM has any `shear-` node. */
  graph: BlockGraph | null;
}

/** Id prefix of a filter left under a throttle filter (`throttled-filter:<vm>:<throttle node>`). */
export const THROTTLED_FILTER = 'throttled-filter';

export interface ScanResult {
  items: Leftover[];
  journals: JournalOnHost[];
  vms: VmTraces[];
  storages: Map<string, Storage>;
}

const RUN_OF = /^shear-([0-9a-f]{8})-/;

export function runIdOf(name: string): string | null {
  return RUN_OF.exec(name)?.[1] ?? null;
}

/** The class of a trace that belongs to run `runId` (pure). */
export function classifyRun(runId: string | null, journals: JournalOnHost[]): { cls: LeftoverClass; reason: string } {
  const j = runId ? journals.find((x) => x.record.runId === runId) : undefined;
  if (j?.alive) return { cls: 'in-use', reason: `run ${runId} is still running (its SSH session holds the lock)` };
  if (j) return { cls: 'orphaned', reason: `run ${runId} ended without cleaning up (journal ${j.path})` };
  return { cls: 'unknown', reason: runId ? `named like a Shear run (${runId}) but no journal knows it` : 'named like a fleecing image but no journal knows it' };
}

/** The VM id a run's journal gives this QEMU process (same pid and a QMP socket in common), if any. */
function journalVmId(journals: JournalOnHost[], vm: VmSummary): string | undefined {
  return journals.find((j) => j.record.vm.pid === vm.pid && j.record.vm.qmpSockets.some((s) => vm.qmpSockets.includes(s)))?.record.vm.id;
}

export async function scanLeftovers(host: HostSession, o: ScanOptions = {}): Promise<ScanResult> {
  const warn = o.warn ?? ((m: string) => host.log('warn', m));
  const journalDir = o.journalDir ?? DEFAULT_JOURNAL_DIR;
  // Both at once: each is an SSH command, and a backup starts with this scan.
  const [allJournals, allVms] = await Promise.all([readJournals(host, journalDir, warn), listVms(host)]);
  const journals = o.vmId ? allJournals.filter((j) => j.record.vm.id === o.vmId) : allJournals;
  const items: Leftover[] = [];

  // Journals.
  for (const j of journals) {
    const { cls, reason } = classifyRun(j.record.runId, journals);
    items.push({
      id: `journal:${j.record.runId}`, kind: 'journal', class: cls, reason, runId: j.record.runId, vm: j.record.vm.id, urgent: false, path: j.path,
      description: `journal of run ${j.record.runId} (VM ${j.record.vm.name}, started ${j.record.startedAt}, last step ${j.record.steps.at(-1) ?? 'none'})`,
      ageMs: Date.now() - Date.parse(j.record.startedAt),
    });
  }

  // Inside running VMs. Runs name their VM as the host driver does (a Proxmox VMID), process
  // discovery by QEMU's -name: the QEMU process a journal recorded ties the two together.
  const vms = allVms.map((v) => ({ ...v, id: journalVmId(allJournals, v) ?? v.id }));
  const scoped = o.vmId ? vms.filter((v) => v.id === o.vmId) : vms;
  const traces: VmTraces[] = [];
  for (const vm of scoped) {
    try {
      traces.push(await withFirstFreeMonitor(host, vm, async (qmp, socket) => {
        const nodes = await qmp.execute('query-named-block-nodes', { flat: true });
        return {
          vm,
          socket,
          status: (await qmp.execute('query-status')).status,
          jobs: await qmp.execute('query-jobs'),
          nodes,
          blocks: await qmp.execute('query-block'),
          // Only when there is something of Shear's: a filter under a throttle filter shows only in the graph.
          graph: nodes.some((n) => n['node-name'].startsWith('shear-')) ? await blockGraph(qmp) : null,
        };
      }));
    } catch (err) {
      warn(`${vm.name}: could not look for leftovers inside the VM: ${(err as Error).message}`);
    }
  }
  for (const t of traces) {
    const vmId = t.vm.id;
    for (const b of t.blocks) {
      const node = b.inserted?.['node-name'] ?? '';
      if (!node.startsWith('shear-')) continue;
      const runId = runIdOf(node);
      const { cls, reason } = classifyRun(runId, journals);
      const device = b.qdev ?? b.device;
      items.push({ id: `filter:${vmId}:${device}`, kind: 'filter', class: cls, reason, runId, vm: vmId, urgent: true,
        description: `copy-before-write filter ${node} still under device ${device} of VM ${t.vm.name}: every guest write pays for it` });
    }
    // Under a throttle filter (the device stays on the throttle): its file edge leads to our filter.
    for (const cbw of t.nodes.filter((n) => n['node-name'].startsWith('shear-') && n.drv === 'copy-before-write')) {
      for (const throttle of t.graph ? fileParentsOf(t.graph, cbw['node-name']).filter((p) => !p.startsWith('shear-')) : []) {
        const runId = runIdOf(cbw['node-name']);
        const { cls, reason } = classifyRun(runId, journals);
        items.push({ id: `${THROTTLED_FILTER}:${vmId}:${throttle}`, kind: 'filter', class: cls, reason, runId, vm: vmId, urgent: true,
          description: `copy-before-write filter ${cbw['node-name']} still under throttle filter ${throttle} of VM ${t.vm.name}: every guest write pays for it` });
      }
    }
    for (const job of t.jobs.filter((x) => x.id.startsWith('shear-'))) {
      const runId = runIdOf(`${job.id}-`);
      const { cls, reason } = classifyRun(runId, journals);
      items.push({ id: `job:${vmId}:${job.id}`, kind: 'job', class: cls, reason, runId, vm: vmId, urgent: job.status === 'running',
        description: `backup job ${job.id} (${job.status}${job.error ? `: ${job.error}` : ''}) in VM ${t.vm.name}` });
    }
    for (const n of t.nodes.filter((x) => x['node-name'].startsWith('shear-'))) {
      const runId = runIdOf(n['node-name']);
      const { cls, reason } = classifyRun(runId, journals);
      items.push({ id: `node:${vmId}:${n['node-name']}`, kind: 'node', class: cls, reason, runId, vm: vmId, urgent: false,
        description: `block node ${n['node-name']} (${n.drv}${n.file && !n.file.startsWith('json:') ? `, ${n.file}` : ''}) in VM ${t.vm.name}` });
    }
    const pausedBy = journals.find((j) => !j.alive && j.record.vmPausedByShear && j.record.vm.pid === t.vm.pid);
    if (pausedBy && t.status === 'paused') {
      items.push({ id: `paused-vm:${vmId}`, kind: 'paused-vm', class: 'orphaned', runId: pausedBy.record.runId, vm: vmId, urgent: true,
        reason: `run ${pausedBy.record.runId} paused the VM for its consistent start and died before resuming it`,
        description: `VM ${t.vm.name} is paused by a dead run` });
    }
  }

  // Proxmox: a dead run's `backup` lock still on its VM blocks every later backup, migration and start.
  for (const j of journals.filter((x) => !x.alive && x.record.proxmoxLock)) {
    const vmid = j.record.proxmoxLock?.vmid ?? 0;
    const r = await host.exec(['pvesh', 'get', `/nodes/localhost/qemu/${vmid}/config`, '--current', '1', '--output-format', 'json']);
    if (r.code !== 0) continue;
    const lock = (JSON.parse(r.stdout) as { lock?: string }).lock;
    if (lock !== 'backup') continue;
    items.push({ id: `vm-lock:${vmid}`, kind: 'vm-lock', class: 'orphaned', runId: j.record.runId, vm: j.record.vm.id, urgent: true,
      reason: `run ${j.record.runId} took the backup lock and died before releasing it`,
      description: `VM ${vmid} is locked (backup) by a dead run` });
  }

  // Images: on the given storages, and wherever a journal says one was allocated.
  // The check before a backup only touches images its VM's journals name: without one, nothing to look for.
  const storages = new Map<string, Storage>();
  if (!o.vmId || journals.length > 0) for (const s of o.storages ?? []) storages.set(s.spec, s);
  for (const j of journals) {
    for (const img of j.record.images) {
      if (storages.has(img.storage)) continue;
      try {
        const s = parseStorageSpec(img.storage);
        storages.set(s.spec, s);
      } catch (err) {
        warn(`journal ${j.path} names an unusable storage ${img.storage}: ${(err as Error).message}`);
      }
    }
  }
  const images: Array<{ storage: Storage; name: string; path: string; sizeBytes?: number; createdMs?: number }> = [];
  for (const storage of storages.values()) {
    try {
      for (const img of await storage.list(host, FLEECE_NAME_PATTERN)) {
        images.push({ storage, name: img.name, path: img.path, sizeBytes: img.sizeBytes, ...(img.createdMs !== undefined ? { createdMs: img.createdMs } : {}) });
      }
    } catch (err) {
      warn(`could not list ${storage.spec}: ${(err as Error).message}`);
    }
  }
  const partials = journals.filter((j) => !j.alive).map((j) => j.record.archivePartialDir).filter((p) => p.endsWith('.partial'));
  const states = await pathStates(host, [...images.map((i) => i.path), ...partials], allVms.map((v) => v.pid));
  for (const img of images) {
    const owner = journals.find((j) => j.record.images.some((x) => x.storage === img.storage.spec && x.name === img.name));
    if (o.vmId && !owner) continue; // the pre-backup check only touches what its VM's journals name
    let { cls, reason } = classifyRun(owner?.record.runId ?? null, journals);
    const heldBy = states.get(img.path)?.heldBy ?? [];
    if (heldBy.length > 0 && cls !== 'in-use') {
      // Held through the dead run's own fleecing node: freed once that node is deleted. Anything else: hands off.
      const viaOwnNode = owner && traces.some((t) => heldBy.includes(t.vm.pid) &&
        t.nodes.some((n) => runIdOf(n['node-name']) === owner.record.runId && (n.file === img.path || n.image.filename === img.path)));
      if (viaOwnNode) reason = `${reason}; attached to the dead run's fleecing node, freed after it is deleted`;
      else {
        cls = 'in-use';
        reason = `held open by QEMU (pid ${heldBy.join(', ')})`;
      }
    }
    items.push({
      id: `image:${img.storage.spec}:${img.name}`, kind: 'image', class: cls, reason, runId: owner?.record.runId ?? null, vm: owner?.record.vm.id ?? null,
      urgent: false, path: img.path, storage: img.storage.spec, heldBy,
      description: `fleecing image ${img.path}${img.sizeBytes !== undefined ? ` (${img.sizeBytes} bytes)` : ''}`,
      ...(img.sizeBytes !== undefined ? { sizeBytes: img.sizeBytes } : {}),
      ...(img.createdMs !== undefined ? { ageMs: Date.now() - img.createdMs } : {}),
    });
  }
  for (const path of partials) {
    if (!states.get(path)?.exists) continue;
    const owner = journals.find((j) => j.record.archivePartialDir === path);
    const { cls, reason } = classifyRun(owner?.record.runId ?? null, journals);
    items.push({ id: `partial-archive:${path}`, kind: 'partial-archive', class: cls, reason, runId: owner?.record.runId ?? null,
      vm: owner?.record.vm.id ?? null, urgent: false, path, description: `unfinished archive ${path}` });
  }

  // Urgent first, then by kind in cleanup order.
  const order: Leftover['kind'][] = ['paused-vm', 'filter', 'job', 'node', 'vm-lock', 'image', 'partial-archive', 'journal'];
  items.sort((a, b) => Number(b.urgent) - Number(a.urgent) || order.indexOf(a.kind) - order.indexOf(b.kind) || a.id.localeCompare(b.id));
  return { items, journals, vms: traces, storages };
}
