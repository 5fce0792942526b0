import type { QmpClient } from '../../electron/engine/qmp/client.js';
import { probeCapabilities } from '../../electron/engine/qmp/capabilities.js';
import { addCbwFilter, addFleeceNode, addSnapshotAccess, cancelAndDismissJob, deleteNodeIfPresent, setDeviceDrive, startBackupJobs } from '../../electron/engine/backup/graph.js';
import { guestRead, guestWrite, hmpQemuIoCommand } from '../../test/lab/guest-io.js';
import type { LabVm } from '../../test/lab/qemu.js';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { startBenchLab } from '../lab.js';
import { ratio, spread, type Spread } from '../stats.js';

/**
 * Case 1: what a guest write into a not-yet-copied area costs while the backup
 * target is slow (a QEMU throttle filter at 4 MiB/s in front of it). Without
 * fleecing the old data must reach the slow target before the write completes;
 * with fleecing it goes to a local image. The block graph is built with the
 * engine's own graph operations, the writes go through the guest's device.
 */
const MiB = 1024 * 1024;
const DISK = 128 * MiB;
const TARGET_BPS = 4 * MiB;
const SAMPLES_PER_SIZE = 20;
const SIZES = [64 * 1024, MiB];

export type ImpactCase = 'noBackup' | 'noFleecing' | 'fleecingQcow2' | 'fleecingRaw';

export interface GuestImpact {
  cases: Record<ImpactCase, Spread & { bySize: Record<string, Spread> }>;
  ratios: Record<ImpactCase, { p50: number; p99: number }>;
  targetBytesPerSecond: number;
  samplesPerCase: number;
}

/** Distinct offsets in the upper half (the job copies from 0 upwards), sizes alternating. */
function plan(): Array<{ offset: number; length: number }> {
  const out: Array<{ offset: number; length: number }> = [];
  let offset = DISK / 2;
  for (let i = 0; i < SAMPLES_PER_SIZE; i++) {
    for (const length of SIZES) {
      out.push({ offset, length });
      offset += Math.max(length, MiB);
    }
  }
  if (offset > DISK) throw new Error('guest impact: samples do not fit the disk');
  return out;
}

async function timeWrites(vm: LabVm, qmp: QmpClient, pattern: number): Promise<Array<{ length: number; ms: number }>> {
  const disk = vm.disk('gi');
  const out: Array<{ length: number; ms: number }> = [];
  for (const s of plan()) {
    const t0 = performance.now();
    const reply = await qmp.execute('human-monitor-command', { 'command-line': hmpQemuIoCommand(disk, `write -P ${pattern} ${s.offset} ${s.length}`) });
    out.push({ length: s.length, ms: performance.now() - t0 });
    if (String(reply).trim() !== '') throw new Error(`guest write failed: ${String(reply)}`);
  }
  return out;
}

export async function benchGuestImpact(log: (m: string) => void): Promise<GuestImpact> {
  const b = await startBenchLab([{ name: 'impact', disks: [{ id: 'gi', bus: 'virtio', format: 'qcow2', sizeBytes: DISK }] }]);
  try {
    const vm = b.lab.vm('impact');
    const disk = vm.disk('gi');
    const diskNode = disk.nodeName;
    if (!diskNode) throw new Error('guest impact: the bench disk needs a -blockdev node name');
    const dir = b.folder('impact');
    const samples = {} as Record<ImpactCase, Array<{ length: number; ms: number }>>;
    const cases: ImpactCase[] = ['noBackup', 'noFleecing', 'fleecingQcow2', 'fleecingRaw'];
    for (const [n, name] of cases.entries()) {
      // Every case starts from a disk full of data, so each copy has real bytes to move.
      await guestWrite(vm, 'gi', { offset: 0, length: DISK, pattern: 0x10 + n });
      const pattern = 0x60 + n;
      samples[name] = await vm.qmp(async (qmp) => {
        if (name === 'noBackup') return timeWrites(vm, qmp, pattern);
        const caps = await probeCapabilities(qmp);
        const nodes: string[] = [];
        const target = join(dir, `${name}-target.qcow2`);
        execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', target, String(DISK)]);
        await qmp.execute('object-add', { 'qom-type': 'throttle-group', id: `bench-tg-${n}`, limits: { 'bps-write': TARGET_BPS } });
        await qmp.execute('blockdev-add', { driver: 'qcow2', 'node-name': `bench-tq-${n}`, file: { driver: 'file', filename: target } });
        nodes.push(`bench-tq-${n}`);
        await qmp.execute('blockdev-add', { driver: 'throttle', 'node-name': `bench-tt-${n}`, 'throttle-group': `bench-tg-${n}`, file: `bench-tq-${n}` });
        nodes.push(`bench-tt-${n}`);
        let source = diskNode;
        if (name !== 'noFleecing') {
          const format = name === 'fleecingQcow2' ? 'qcow2' : 'raw';
          const path = join(dir, `${name}.${format}`);
          execFileSync('qemu-img', ['create', '-q', '-f', format, path, String(DISK)]);
          await addFleeceNode(qmp, { node: `bench-fl-${n}`, path, format, blockDevice: false, sizeBytes: DISK });
          nodes.push(`bench-fl-${n}`);
          // As the engine does: the filter goes in while the VM is paused (FLEECING.md; a running
          // device holds write permission on its node, and the point in time must be one instant).
          await qmp.execute('stop');
          await addCbwFilter(qmp, caps, { node: `bench-cbw-${n}`, source: diskNode, fleece: `bench-fl-${n}` });
          nodes.push(`bench-cbw-${n}`);
          await setDeviceDrive(qmp, disk.qdevPath, `bench-cbw-${n}`);
          await addSnapshotAccess(qmp, { node: `bench-snap-${n}`, cbw: `bench-cbw-${n}` });
          nodes.push(`bench-snap-${n}`);
          source = `bench-snap-${n}`;
        }
        const jobId = `bench-job-${n}`;
        await startBackupJobs(qmp, [{ jobId, source, target: `bench-tt-${n}`, speed: 0, discardSource: false }]);
        if (name !== 'noFleecing') await qmp.execute('cont');
        try {
          return await timeWrites(vm, qmp, pattern);
        } finally {
          // FLEECING.md teardown order: job, snapshot-access, device back, then the rest.
          await cancelAndDismissJob(qmp, jobId);
          if (name !== 'noFleecing') {
            await deleteNodeIfPresent(qmp, `bench-snap-${n}`);
            await setDeviceDrive(qmp, disk.qdevPath, diskNode);
          }
          for (const node of nodes.reverse()) await deleteNodeIfPresent(qmp, node);
          await qmp.execute('object-del', { id: `bench-tg-${n}` });
        }
      });
      // The writes really landed (timing a failed write would prove nothing).
      const last = plan().at(-1) as { offset: number; length: number };
      await guestRead(vm, 'gi', { ...last, pattern });
      const s = spread(samples[name].map((x) => x.ms));
      log(`guest impact ${name}: p50 ${s.p50Ms} ms, p99 ${s.p99Ms} ms`);
    }
    const result = {} as GuestImpact['cases'];
    const ratios = {} as GuestImpact['ratios'];
    for (const name of cases) {
      const all = samples[name].map((x) => x.ms);
      const bySize: Record<string, Spread> = {};
      for (const size of SIZES) bySize[size === MiB ? '1MiB' : `${size / 1024}KiB`] = spread(samples[name].filter((x) => x.length === size).map((x) => x.ms));
      result[name] = { ...spread(all), bySize };
    }
    for (const name of cases) {
      ratios[name] = { p50: ratio(result[name].p50Ms, result.noBackup.p50Ms), p99: ratio(result[name].p99Ms, result.noBackup.p99Ms) };
    }
    return { cases: result, ratios, targetBytesPerSecond: TARGET_BPS, samplesPerCase: SIZES.length * SAMPLES_PER_SIZE };
  } finally {
    await b.stop();
  }
}
