import { describe, expect, it } from 'vitest';
import type { VmDetails, VmDisk } from '../../shared/model.js';
import { archiveTimestamp, chooseFleecingFormat, fleeceImageName, newRunId, planBackup, safeNamePart } from '../../electron/engine/backup/plan.js';

const disk = (device: string, role: VmDisk['role'] = 'disk', sizeBytes = 1024 * 1024): VmDisk => ({
  device, qomPath: `/machine/peripheral/${device}`, blockBackend: '', nodeName: `${device}-fmt`, format: 'qcow2', sizeBytes, file: `/img/${device}`, backingFile: null, role,
});

const vm = (disks: VmDisk[], id = 'web'): VmDetails => ({
  id, name: id, pid: 42, qmpSockets: ['/run/web.qmp'], guestAgentSocket: null, argv: [], runState: 'running', qemuVersion: '7.2.22', disks,
});

const dirStorage = { spec: 'dir:/fleece', formats: ['qcow2', 'raw'] as const, pathBased: true, imagePath: (n: string) => `/fleece/${n}` };
const lvm = { spec: 'lvmthin:vg/pool', formats: ['raw'] as const, pathBased: false, imagePath: (n: string) => `/dev/vg/${n}` };

describe('backup plan', () => {
  it('names fleecing images as Proxmox does, counting fleeced disks only', () => {
    const plan = planBackup({
      vm: vm([disk('efidisk0', 'efivars'), disk('scsi0'), disk('vd1')]),
      runId: 'abcd1234',
      startedAt: new Date('2026-11-26T02:30:05.123Z'),
      fleecing: { storage: dirStorage, format: 'auto' },
      targetDir: '/backup/',
    });
    expect(plan.disks.map((d) => d.fleece?.imageName ?? null)).toEqual([null, 'vm-web-fleece-0.qcow2', 'vm-web-fleece-1.qcow2']);
    expect(plan.disks[1]?.fleece?.imagePath).toBe('/fleece/vm-web-fleece-0.qcow2');
    expect(plan.archiveDir).toBe('/backup/web/20261126T023005Z');
    expect(plan.partialDir).toBe('/backup/web/20261126T023005Z.partial');
    expect(plan.disks.map((d) => d.targetFile)).toEqual(['efidisk0.qcow2', 'scsi0.qcow2', 'vd1.qcow2']);
  });

  it('keeps node names within QEMU\'s 31 characters and prefixed shear-', () => {
    const plan = planBackup({
      vm: vm(Array.from({ length: 12 }, (_, i) => disk(`virtio${i}`))),
      runId: newRunId(),
      startedAt: new Date(),
      fleecing: { storage: lvm, format: 'auto' },
      targetDir: '/b',
    });
    const names = plan.disks.flatMap((d) => [d.targetNode, d.fleece?.node, d.fleece?.cbwNode, d.fleece?.snapNode, d.jobId]);
    for (const n of names) {
      expect(n).toMatch(/^shear-[0-9a-f]{8}-\d+(-(fl|cbw|snap|tgt))?$/);
      expect((n ?? '').length).toBeLessThanOrEqual(31);
    }
    expect(new Set(names).size).toBe(names.length);
    expect(plan.disks[0]?.fleece?.imageName).toBe('vm-web-fleece-0');
  });

  it('picks qcow2 where the storage takes it, else raw, and refuses a format the storage lacks', () => {
    expect(chooseFleecingFormat('auto', dirStorage)).toBe('qcow2');
    expect(chooseFleecingFormat('auto', lvm)).toBe('raw');
    expect(chooseFleecingFormat('raw', dirStorage)).toBe('raw');
    expect(() => chooseFleecingFormat('qcow2', lvm)).toThrow(/cannot hold qcow2/);
  });

  it('makes names safe for files, LVs and zvols without losing uniqueness of target files', () => {
    expect(safeNamePart('my vm/01')).toBe('my_vm_01');
    expect(safeNamePart('..')).toBe('_');
    expect(safeNamePart('-rf')).toBe('_rf');
    expect(fleeceImageName('a b', 3, 'raw', true)).toBe('vm-a_b-fleece-3.raw');
    const plan = planBackup({ vm: vm([disk('a/b'), disk('a_b')]), runId: 'abcd1234', startedAt: new Date(0), fleecing: null, targetDir: '/b' });
    expect(plan.disks.map((d) => d.targetFile)).toEqual(['a_b.qcow2', 'a_b-2.qcow2']);
    expect(plan.disks.every((d) => d.fleece === null)).toBe(true);
    expect(archiveTimestamp(new Date('2026-01-02T03:04:05.999Z'))).toBe('20260102T030405Z');
  });
});
