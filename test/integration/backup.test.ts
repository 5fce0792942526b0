import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../electron/engine/backup/run-backup.js';
import { sampleWriteCounters } from '../../electron/engine/backup/write-latency.js';
import { inspectVm } from '../../electron/engine/hosts/vm-inspect.js';
import type { SshHostSession } from '../../electron/engine/hosts/host-session.js';
import { parseStorageSpec } from '../../electron/engine/storage/storage.js';
import { guestFlush, guestWrite } from '../lab/guest-io.js';
import { imagePatternMatches, imageVirtualSize } from '../lab/image.js';
import { startLabHost, type LabHost } from '../lab/lab-host.js';
import {
  eventLog,
  expectPristine,
  findVm,
  fleeceFiles,
  labFolder,
  labSession,
  MiB,
  readManifest,
  snapshotState,
} from '../support/backup-harness.js';
import { expectPointInTime, seedBeforeBackup, writeDuringCopy } from '../support/backup-scenario.js';

/**
 * The fleecing lifecycle end to end on a real host: a VM with a virtio qcow2
 * disk, a Proxmox-style scsi raw disk of an odd size and UEFI vars; guest writes
 * land during the copy; the archive must hold the point in time, not the writes.
 */
const ODD = 64 * MiB + 512;
let lab: LabHost;
let host: SshHostSession;
let journalDir: string;

beforeAll(async () => {
  lab = await startLabHost({
    vms: [
      {
        name: 'web',
        // A guest-agent channel with no agent behind it (no guest OS): the freeze must be skipped with a warning.
        guestAgent: true,
        disks: [
          { id: 'vd0', bus: 'virtio', format: 'qcow2', sizeBytes: 32 * MiB },
          { id: 'scsi0', bus: 'scsi', format: 'raw', sizeBytes: ODD },
          { id: 'efidisk0', bus: 'efivars' },
        ],
      },
      { name: 'idle', paused: true, disks: [{ id: 'vd0', bus: 'virtio', format: 'qcow2', sizeBytes: 16 * MiB }] },
      // A guest held to 4 MiB/s (Proxmox VE 9 puts a throttle filter over every drive).
      { name: 'limited', disks: [{ id: 'vd0', bus: 'virtio', format: 'qcow2', sizeBytes: 24 * MiB, throttleBytesPerSecond: 4 * MiB }] },
      {
        // One disk on each other bus a homelab VM uses, named and attached as QEMU and Proxmox do.
        name: 'buses',
        disks: [
          { id: 'sata0', bus: 'sata', format: 'raw', sizeBytes: 24 * MiB + 512 },
          { id: 'nvme0', bus: 'nvme', format: 'qcow2', sizeBytes: 24 * MiB },
          { id: 'usb0', bus: 'usb', format: 'qcow2', sizeBytes: 24 * MiB },
          { id: 'virtio0', bus: 'virtio-legacy', format: 'qcow2', sizeBytes: 24 * MiB },
          { id: 'vd1', bus: 'virtio', format: 'qcow2', sizeBytes: 24 * MiB, iothread: true },
          // I/O limits: a throttle node on top, as Proxmox VE 9 puts over every drive.
          { id: 'vd2', bus: 'virtio', format: 'raw', sizeBytes: 24 * MiB, throttleBytesPerSecond: 256 * MiB },
        ],
      },
    ],
  });
  host = await labSession(lab);
  journalDir = labFolder(lab, 'journal');
});

afterAll(async () => {
  host?.close();
  await lab?.stop();
});

describe('fleecing backup of a running VM', () => {
  it('keeps the point in time on SATA/IDE (AHCI), NVMe, USB, legacy if=virtio (auto-named nodes), iothread and throttled virtio disks', async () => {
    const vm = lab.vm('buses');
    const before = await snapshotState(vm);
    await seedBeforeBackup(vm);
    const fleeceDir = labFolder(lab, 'fleece-buses');
    const { emit, firstProgress } = eventLog();
    const running = runBackup({
      host, vm: await findVm(host, 'buses'), targetDir: labFolder(lab, 'archive-buses'),
      fleecing: { storage: parseStorageSpec(`dir:${fleeceDir}`), format: 'auto' },
      bwlimit: 16 * MiB, emit, toolVersion: 'test', journalDir, pollIntervalMs: 100,
    });
    await firstProgress;
    await writeDuringCopy(vm);
    const result = await running;
    expect(result.manifest.disks.map((d) => [d.device, d.fleecing, d.size])).toEqual([
      ['nvme0', true, 24 * MiB], ['sata0', true, 24 * MiB + 512], ['usb0', true, 24 * MiB], ['vd1', true, 24 * MiB], ['vd2', true, 24 * MiB], ['virtio0', true, 24 * MiB],
    ]);
    await expectPointInTime(vm, result.archiveDir);
    expect(fleeceFiles(fleeceDir)).toEqual([]);
    await expectPristine(vm, before);
  });

  it('works below a throttle filter: the guest keeps its I/O limit, the backup is not held to it, the point in time holds', async () => {
    const vm = lab.vm('limited');
    const before = await snapshotState(vm);
    await seedBeforeBackup(vm);
    const { emit, events, firstProgress } = eventLog();
    const underThrottle: string[] = [];
    const running = runBackup({
      host, vm: await findVm(host, 'limited'), targetDir: labFolder(lab, 'archive-limited'),
      fleecing: { storage: parseStorageSpec(`dir:${labFolder(lab, 'fleece-limited')}`), format: 'auto' },
      emit, toolVersion: 'test', journalDir, pollIntervalMs: 100,
      afterStep: async (step) => {
        if (step !== 'start') return;
        // The device stays on its throttle filter; the copy-before-write filter is under it.
        const blocks = await vm.qmp((q) => q.execute('query-block'));
        underThrottle.push(String(blocks.find((b) => b.qdev === vm.disk('vd0').qdevPath || b.qdev === 'vd0' || b.qdev?.endsWith('/vd0/virtio-backend'))?.inserted?.['node-name']));
      },
    });
    await firstProgress;
    await writeDuringCopy(vm);
    const result = await running;
    expect(underThrottle).toEqual(['vd0-throttle']);
    // 24 MiB read at the guest's 4 MiB/s would take 6 s.
    const copyMs = events.flatMap((e) => (e.type === 'step' && e.step === 'copy' && e.state === 'done' ? [e.ms ?? 0] : []))[0] ?? Infinity;
    expect(copyMs).toBeLessThan(4_000);
    expect(result.manifest.disks.map((d) => [d.device, d.fleecing, d.size, d.source?.format])).toEqual([['vd0', true, 24 * MiB, 'qcow2']]);
    await expectPointInTime(vm, result.archiveDir);
    await expectPristine(vm, before);
  });

  it('takes a point-in-time backup of every disk, fleecing the data disks only', async () => {
    const vm = lab.vm('web');
    const before = await snapshotState(vm);
    await seedBeforeBackup(vm);
    const fleeceDir = labFolder(lab, 'fleece');
    const target = labFolder(lab, 'archive');
    const { events, emit, firstProgress } = eventLog();
    const fleecesDuringRun: string[][] = [];

    const running = runBackup({
      host,
      vm: await findVm(host, 'web'),
      targetDir: target,
      fleecing: { storage: parseStorageSpec(`dir:${fleeceDir}`), format: 'auto' },
      bwlimit: 32 * MiB,
      emit,
      toolVersion: 'test',
      journalDir,
      pollIntervalMs: 100,
      afterStep: (step) => {
        if (step === 'start') fleecesDuringRun.push(fleeceFiles(fleeceDir));
      },
    });
    await firstProgress;
    await writeDuringCopy(vm);
    const result = await running;

    expect(fleecesDuringRun).toEqual([['vm-web-fleece-0.qcow2', 'vm-web-fleece-1.qcow2']]);
    expect(fleeceFiles(fleeceDir)).toEqual([]);
    expect(existsSync(result.archiveDir)).toBe(true);
    expect(readdirSync(join(target, 'web')).filter((f) => f.endsWith('.partial'))).toEqual([]);
    await expectPointInTime(vm, result.archiveDir);

    const manifest = readManifest(result.archiveDir);
    expect(manifest.vm).toEqual({ id: 'web', name: 'web' });
    expect(manifest.disks.map((d) => [d.device, d.fleecing, d.size, d.role])).toEqual([
      ['efidisk0', false, expect.any(Number), 'efivars'],
      ['scsi0', true, ODD, 'disk'],
      ['vd0', true, 32 * MiB, 'disk'],
    ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))));
    const efi = manifest.disks.find((d) => d.role === 'efivars');
    expect(await imageVirtualSize(join(result.archiveDir, efi?.file ?? ''), { format: 'qcow2' })).toBe(efi?.size);
    expect(manifest.qemuVersion).toBe(`${vm.qemuVersion.major}.${vm.qemuVersion.minor}.${vm.qemuVersion.micro}`);
    expect(readdirSync(result.archiveDir).sort()).toEqual(['definition.json', 'efidisk0.qcow2', 'manifest.json', 'scsi0.qcow2', 'vd0.qcow2']);

    // Events: per-disk progress reaching the total, the pause logged, a final ok result.
    for (const disk of ['vd0', 'scsi0', 'efidisk0']) {
      const last = events.filter((e) => e.type === 'progress' && e.disk === disk).pop();
      expect(last && last.type === 'progress' && last.done === last.total, `progress of ${disk}`).toBe(true);
    }
    expect(events.some((e) => e.type === 'log' && /paused for \d+ ms/.test(e.message))).toBe(true);
    expect(events.some((e) => e.type === 'warning' && /guest agent of web is not answering.*crash-consistent/.test(e.message))).toBe(true);
    expect(manifest.fsFreeze).toBe('agent-unavailable');
    expect(events.at(-1)).toMatchObject({ type: 'result', ok: true, archive: result.archiveDir });
    expect(readdirSync(journalDir).filter((f) => f.endsWith('.json'))).toEqual([]);
    await expectPristine(vm, before);
  });

  it('finds every disk\'s write counters in query-blockstats (the latency shown beside each disk)', async () => {
    // The lab has no guest OS: HMP qemu-io writes bypass the device emulation that counts
    // guest I/O, so the counters stay at zero here; what this proves is that each disk,
    // virtio (-blockdev), scsi (-drive) and pflash, is matched to its own counters.
    const details = await inspectVm(host, await findVm(host, 'web'));
    const counters = await lab.vm('web').qmp((q) => sampleWriteCounters(q, details.disks));
    expect([...counters.keys()].sort()).toEqual(['efidisk0', 'scsi0', 'vd0']);
    for (const c of counters.values()) expect(c.ops).toBeGreaterThanOrEqual(0);
  });

  it('backs up a paused VM and leaves it paused', async () => {
    const vm = lab.vm('idle');
    const before = await snapshotState(vm);
    expect(before.runState).toBe('prelaunch');
    await guestWrite(vm, 'vd0', { offset: MiB, length: MiB, pattern: 0x44 });
    await guestFlush(vm, 'vd0');
    const { emit } = eventLog();
    const result = await runBackup({
      host,
      vm: await findVm(host, 'idle'),
      targetDir: labFolder(lab, 'archive-idle'),
      fleecing: { storage: parseStorageSpec(`dir:${labFolder(lab, 'fleece-idle')}`), format: 'raw' },
      emit,
      toolVersion: 'test',
      journalDir,
      pollIntervalMs: 100,
    });
    expect(await imagePatternMatches(join(result.archiveDir, 'vd0.qcow2'), { offset: MiB, length: MiB, pattern: 0x44 }, { format: 'qcow2' })).toBe(true);
    expect(readManifest(result.archiveDir).runState).toBe('prelaunch');
    await expectPristine(vm, before);
  });
});
