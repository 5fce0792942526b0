import type { VmDisk } from '../../../shared/model.js';
import type { QmpClient } from '../qmp/client.js';

/**
 * The guest's write latency per disk, from the device's own counters
 * (`query-blockstats`: total write time and write count of its BlockBackend).
 * They count what the guest experiences, whatever sits below the device, so a
 * backup's cost to the guest shows directly: without fleecing, writes wait for
 * the slow target; with it, for the fast fleecing image.
 */
export interface WriteCounters {
  ops: number;
  ns: number;
}

interface BlockStats {
  device: string;
  qdev?: string;
  stats: { wr_operations: number; wr_total_time_ns: number };
}

export type DiskRef = Pick<VmDisk, 'device' | 'blockBackend' | 'qomPath'>;

function matches(entry: BlockStats, disk: DiskRef): boolean {
  if (disk.blockBackend) return entry.device === disk.blockBackend;
  const qdev = entry.qdev ?? '';
  return qdev === disk.qomPath || `/machine/peripheral/${qdev}` === disk.qomPath;
}

export async function sampleWriteCounters(qmp: QmpClient, disks: DiskRef[], options: { timeoutMs?: number } = {}): Promise<Map<string, WriteCounters>> {
  const stats = (await qmp.execute('query-blockstats', undefined, options)) as BlockStats[];
  const out = new Map<string, WriteCounters>();
  for (const disk of disks) {
    const entry = stats.find((s) => matches(s, disk));
    if (entry) out.set(disk.device, { ops: entry.stats.wr_operations, ns: entry.stats.wr_total_time_ns });
  }
  return out;
}

/** Average write latency in microseconds between two samples; null when the guest did not write. */
export function latencyUs(before: WriteCounters | undefined, after: WriteCounters | undefined): number | null {
  if (!after) return null;
  const ops = after.ops - (before?.ops ?? 0);
  const ns = after.ns - (before?.ns ?? 0);
  return ops > 0 ? ns / ops / 1000 : null;
}
