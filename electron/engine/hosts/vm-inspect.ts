/**
 * What a running VM is made of, asked from QEMU itself: run state, version and the disks to
 * back up (`query-block`), in one short QMP session.
 */
import type { DiskRole, VmDetails, VmDisk, VmSummary } from '../../../shared/model.js';
import { QmpTimeoutError, type QmpClient } from '../qmp/client.js';
import { blockGraph, fileChildOf, throttleFilterOf, type BlockGraph } from '../qmp/block-graph.js';
import { withQmp } from '../qmp/session.js';
import type { BlockInfo, NamedBlockNode, QmpVersion } from '../qmp/types.js';
import { compareNatural } from './discovery.js';
import type { HostSession } from './host-session.js';

/** How long a monitor may take to greet before we call it busy and try the next one. */
export const MONITOR_GREETING_TIMEOUT_MS = 2_000;
/** The same for the last (often the only) socket: waiting out a short session of another tool beats failing. */
export const LAST_MONITOR_GREETING_TIMEOUT_MS = 10_000;

const PERIPHERAL = '/machine/peripheral/';
/** Board flash (pflash) devices: `/machine/system.flash1` on x86, `/machine/virt.flash1` on Arm. */
const FLASH_QDEV = /^\/machine\/(?:[^/]+\.)?flash(\d+)$/;

/** Where the device's `drive` property lives: a full QOM path as given; a bare id is a `-device id=`. */
function qomPathOf(qdev: string | undefined): string {
  if (qdev === undefined || qdev === '') return '';
  return qdev.startsWith('/') ? qdev : `${PERIPHERAL}${qdev}`;
}

/**
 * The id a user knows the disk by. In order: the `-device id=` (bare `qdev`, or the segment
 * after /machine/peripheral/); the BlockBackend name without Proxmox's `drive-` prefix
 * (`drive-efidisk0` → `efidisk0`, `pflash1`); a node named `drive-<x>` → `<x>`; `pflash<N>`
 * for an anonymous board flash; the node name; the QOM path.
 */
function deviceIdOf(block: BlockInfo): string {
  const qdev = block.qdev ?? '';
  if (qdev !== '' && !qdev.startsWith('/')) return qdev;
  if (qdev.startsWith(PERIPHERAL)) {
    const id = qdev.slice(PERIPHERAL.length).split('/')[0];
    if (id) return id;
  }
  if (block.device !== '') return block.device.startsWith('drive-') ? block.device.slice('drive-'.length) : block.device;
  const node = block.inserted?.['node-name'] ?? '';
  // A -blockdev graph named the Proxmox way (`drive-efidisk0` on `-machine pflash1=...`).
  if (node.startsWith('drive-') && node.length > 'drive-'.length) return node.slice('drive-'.length);
  const flash = FLASH_QDEV.exec(qdev);
  if (flash) return `pflash${flash[1] as string}`;
  if (node !== '') return node;
  return qdev;
}

function roleOf(block: BlockInfo, device: string): DiskRole {
  const backend = block.device;
  if (FLASH_QDEV.test(block.qdev ?? '') || /^pflash\d+$/.test(backend) || /^efidisk\d+$/.test(device) || /^drive-efidisk\d+$/.test(backend)) {
    return 'efivars';
  }
  if (/^tpmstate\d+/.test(device) || /^drive-tpmstate\d+/.test(backend)) return 'tpmstate';
  return 'disk';
}

/**
 * Maps a `query-block` reply to the disks to back up. Pure.
 *
 * Skipped: entries without `inserted` (an empty cdrom drive) and read-only ones (the UEFI
 * code `pflash0`, cdroms with media): there is nothing of the VM's own to save in them.
 * Sorted by device id in natural order (`query-block`'s order is not the command line's).
 * Two entries that would share a device id get `-2`, `-3`... (never seen in practice).
 *
 * `namedNodes` (`query-named-block-nodes`), when given, cross-checks each size: a fleecing
 * image smaller than the disk crashes the VM on the first write past its end, so a size that
 * two queries disagree on (a resize in between?) is an error, never a guess.
 */
export function disksFromQueryBlock(blocks: readonly BlockInfo[], namedNodes?: readonly NamedBlockNode[]): VmDisk[] {
  const disks: VmDisk[] = [];
  for (const block of blocks) {
    const inserted = block.inserted;
    if (!inserted || inserted.ro) continue;
    const device = deviceIdOf(block);
    const nodeName = inserted['node-name'] ?? '';
    const sizeBytes = inserted.image['virtual-size'];
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 0) {
      throw new Error(`disk ${device}: QEMU reports an unusable virtual size ${String(sizeBytes)}`);
    }
    const node = namedNodes?.find((n) => n['node-name'] === nodeName);
    if (node && node.image['virtual-size'] !== sizeBytes) {
      throw new Error(
        `disk ${device}: QEMU reports two sizes for node ${nodeName} (query-block ${sizeBytes}, query-named-block-nodes ${node.image['virtual-size']}); was it resized? Inspect again.`,
      );
    }
    disks.push({
      device,
      qomPath: qomPathOf(block.qdev),
      blockBackend: block.device,
      nodeName,
      format: inserted.drv,
      sizeBytes,
      file: inserted.file,
      backingFile: inserted.backing_file ?? inserted.image['backing-filename'] ?? null,
      role: roleOf(block, device),
    });
  }

  disks.sort((a, b) => compareNatural(a.device, b.device) || compareNatural(a.qomPath, b.qomPath));
  const seen = new Map<string, number>();
  for (const disk of disks) {
    const n = (seen.get(disk.device) ?? 0) + 1;
    seen.set(disk.device, n);
    if (n > 1) disk.device = `${disk.device}-${n}`;
  }
  return disks;
}

export function qemuVersionString(version: QmpVersion): string {
  const { major, minor, micro } = version.qemu;
  return `${major}.${minor}.${micro}`;
}

/**
 * Runs `batch` in one short session on the first of the VM's QMP sockets that answers.
 * QEMU serves one client per monitor; one that does not greet within
 * {@link MONITOR_GREETING_TIMEOUT_MS} is busy (another tool, or a backup holds it), so the next
 * socket is tried. The last socket has nothing to fall back to, so it gets
 * {@link LAST_MONITOR_GREETING_TIMEOUT_MS}: the host's own tools hold a monitor only briefly.
 * An error inside `batch` is not retried on another socket.
 */
export async function withFirstFreeMonitor<T>(
  host: HostSession,
  vm: Pick<VmSummary, 'name' | 'qmpSockets'>,
  batch: (qmp: QmpClient, socket: string) => Promise<T>,
  options: { greetingTimeoutMs?: number; lastGreetingTimeoutMs?: number } = {},
): Promise<T> {
  if (vm.qmpSockets.length === 0) throw new Error(`${host.label}: VM ${vm.name} has no QMP socket`);
  const failures: string[] = [];
  let busy = 0;
  for (const [index, socket] of vm.qmpSockets.entries()) {
    const last = index === vm.qmpSockets.length - 1;
    const greetingTimeoutMs = last
      ? (options.lastGreetingTimeoutMs ?? LAST_MONITOR_GREETING_TIMEOUT_MS)
      : (options.greetingTimeoutMs ?? MONITOR_GREETING_TIMEOUT_MS);
    let connected = false;
    try {
      return await withQmp(
        host.qmp,
        socket,
        (qmp) => {
          connected = true;
          return batch(qmp, socket);
        },
        { greetingTimeoutMs },
      );
    } catch (err) {
      if (connected) throw err;
      if (err instanceof QmpTimeoutError) {
        busy += 1;
        failures.push(`${socket}: busy (no greeting within ${greetingTimeoutMs} ms)`);
        host.log('info', `${host.label}: QMP monitor ${socket} of ${vm.name} is busy${last ? '' : '; trying the next one'}`);
      } else {
        const message = (err as Error).message;
        failures.push(`${socket}: ${message}`);
        host.log('info', `${host.label}: QMP monitor ${socket} of ${vm.name} is unusable: ${message}`);
      }
    }
  }
  const all = vm.qmpSockets.length;
  const summary =
    busy < all
      ? `no QMP monitor of VM ${vm.name} answered`
      : all === 1
        ? `the QMP monitor of VM ${vm.name} is busy: another client holds it (a running backup, qm, virsh?); try again when it is done`
        : `all ${all} QMP monitors of VM ${vm.name} are busy: another client holds each of them (a running backup, qm, virsh?); try again when it is done`;
  throw new Error(`${host.label}: ${summary}: ${failures.join('; ')}`);
}

/** Run state, QEMU version and disks of a running VM, in one short QMP session. */
export async function inspectVm(
  host: HostSession,
  vm: VmSummary,
  options: { greetingTimeoutMs?: number; lastGreetingTimeoutMs?: number } = {},
): Promise<VmDetails> {
  return withFirstFreeMonitor(host, vm, (qmp) => describeVm(qmp, vm), options);
}

/** What `inspectVm` reads, inside a session the caller already has (one session is cheaper than two). */
export async function describeVm(qmp: QmpClient, vm: VmSummary): Promise<VmDetails> {
  const status = await qmp.execute('query-status');
  const version = await qmp.execute('query-version');
  const blocks = await qmp.execute('query-block');
  const nodes = await qmp.execute('query-named-block-nodes', { flat: true });
  const all = disksFromQueryBlock(blocks, nodes);
  // Only then: the graph is QEMU's debug query, and most VMs have no throttle node.
  if (all.some((d) => d.format === 'throttle')) {
    const graph = await blockGraph(qmp);
    for (const [i, d] of all.entries()) if (d.format === 'throttle') all[i] = belowThrottle(d, nodes, graph);
  }
  const types = await deviceTypes(qmp, all);
  const disks: VmDisk[] = [];
  const skipped: Array<{ device: string; reason: string }> = [];
  all.forEach((d, i) => {
    const reason = reasonToSkip(d, types[i] ?? '');
    if (reason) skipped.push({ device: d.device, reason });
    else disks.push(d);
  });
  return {
    ...vm,
    runState: status.status,
    qemuVersion: qemuVersionString(version),
    disks,
    ...(skipped.length > 0 ? { skipped } : {}),
  };
}

/**
 * A disk whose top node is a `throttle` filter, seen from the node below it (pure): that is
 * where the backup works, and the filter is recorded to be pointed at the copy-before-write
 * filter. Left as it is when the graph does not say (the filter then goes above the throttle).
 */
export function belowThrottle(disk: VmDisk, nodes: readonly NamedBlockNode[], graph: BlockGraph): VmDisk {
  const child = fileChildOf(graph, disk.nodeName);
  const under = child !== undefined ? nodes.find((n) => n['node-name'] === child) : undefined;
  const throttle = throttleFilterOf(nodes, disk.nodeName);
  if (!under || !throttle || under.image['virtual-size'] !== disk.sizeBytes) return disk;
  return {
    ...disk,
    nodeName: under['node-name'],
    format: under.drv,
    file: under.file,
    backingFile: under.backing_file ?? under.image['backing-filename'] ?? null,
    throttle,
  };
}

/** Each disk's device QOM type ('' when unknown), all asked at once: one round trip. */
export async function deviceTypes(qmp: QmpClient, disks: readonly Pick<VmDisk, 'qomPath'>[]): Promise<string[]> {
  return Promise.all(disks.map((d) => (d.qomPath ? qmp.execute('qom-get', { path: d.qomPath, property: 'type' }).then(String, () => '') : Promise.resolve(''))));
}

/**
 * Drives a backup leaves out, and why. Pure.
 * - SCSI passthrough (`scsi-block`, `scsi-generic`): the guest's reads and writes reach the host
 *   device as SG_IO ioctls, past the block layer. A copy-before-write filter (every backup job
 *   inserts one, fleecing or not) neither sees those writes, so the copy would not be
 *   point-in-time, nor passes ioctls on, so the guest would get I/O errors.
 * - An empty (0-byte) drive holds nothing, and no image of its size can be made.
 */
export function reasonToSkip(disk: Pick<VmDisk, 'sizeBytes'>, deviceType: string): string | null {
  if (deviceType === 'scsi-block' || deviceType === 'scsi-generic') {
    return `a SCSI passthrough device (${deviceType}): its I/O bypasses QEMU's block layer, so no backup job can copy it consistently, and a filter over it would fail the guest's I/O; back it up on the host or inside the guest`;
  }
  if (disk.sizeBytes === 0) return 'empty (0 bytes): nothing to back up';
  return null;
}
