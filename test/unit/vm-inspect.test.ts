import { describe, expect, it } from 'vitest';
import { disksFromQueryBlock, qemuVersionString, reasonToSkip } from '../../electron/engine/hosts/vm-inspect.js';
import type { BlockInfo, NamedBlockNode } from '../../electron/engine/qmp/types.js';
import type { VmDisk } from '../../shared/model.js';

/*
 * Replies recorded from real QEMUs on this machine through the lab (test/lab), then trimmed to
 * the fields Shear reads (`iops*`, `bps*`, `cache`, `format-specific`... removed) and with the
 * lab's temp dir replaced by XXXXXX. Nothing else was edited: node names, order and sizes are
 * QEMU's own.
 *
 * rec1 — `startLabHost` VM with guestAgent, paused, disks
 *   vd0 (virtio, qcow2, 32 MiB: -blockdev + virtio-blk-pci), scsi0 (scsi, raw, 64 MiB + 512:
 *   Proxmox -drive if=none,id=drive-scsi0 + scsi-hd), efidisk0 (efivars: OVMF code on pflash0,
 *   vars on pflash1 as -drive if=pflash,unit=1,id=drive-efidisk0),
 *   plus extraArgs `-drive if=none,id=drive-ide2,media=cdrom -device ide-cd,...,id=ide2` (empty cdrom).
 * rec2 — `-drive if=pflash,unit=1,format=raw,file=vars.fd` (no id: BlockBackend "pflash1") and
 *   `-drive if=none,id=drive-virtio1,file=overlay.qcow2` (backing file base.qcow2, 48 MiB) +
 *   virtio-blk-pci id=virtio1 (Proxmox's virtio style).
 * Each on QEMU 7.2.22 (Debian bookworm) and QEMU 10.0.2 (bookworm-backports, which adds
 * `inserted.active`); the integration test (test/integration/discovery.test.ts) checks the
 * same mapping on live replies.
 */

const REC1_QEMU72_BLOCK = [
  {"device": "pflash0", "qdev": "/machine/system.flash0", "removable": false, "locked": false, "inserted": {"file": "/usr/share/OVMF/OVMF_CODE_4M.fd", "node-name": "#block139", "ro": true, "drv": "raw", "image": {"filename": "/usr/share/OVMF/OVMF_CODE_4M.fd", "format": "raw", "virtual-size": 3653632}}},
  {"device": "drive-efidisk0", "qdev": "/machine/system.flash1", "removable": false, "locked": false, "inserted": {"file": "/tmp/shear-lab-XXXXXX/rec1/efidisk0.raw", "node-name": "#block383", "ro": false, "drv": "raw", "image": {"filename": "/tmp/shear-lab-XXXXXX/rec1/efidisk0.raw", "format": "raw", "virtual-size": 540672}}},
  {"device": "drive-scsi0", "qdev": "scsi0", "removable": false, "locked": false, "inserted": {"file": "/tmp/shear-lab-XXXXXX/rec1/scsi0.raw", "node-name": "#block548", "ro": false, "drv": "raw", "image": {"filename": "/tmp/shear-lab-XXXXXX/rec1/scsi0.raw", "format": "raw", "virtual-size": 67109376}}},
  {"device": "drive-ide2", "qdev": "ide2", "removable": true, "locked": false, "tray_open": false},
  {"device": "", "qdev": "/machine/peripheral/vd0/virtio-backend", "removable": false, "locked": false, "inserted": {"file": "/tmp/shear-lab-XXXXXX/rec1/vd0.qcow2", "node-name": "vd0-fmt", "ro": false, "drv": "qcow2", "image": {"filename": "/tmp/shear-lab-XXXXXX/rec1/vd0.qcow2", "format": "qcow2", "virtual-size": 33554432}}},
]

const REC1_QEMU72_NODES = [
  {"node-name": "#block548", "drv": "raw", "ro": false, "file": "/tmp/shear-lab-XXXXXX/rec1/scsi0.raw", "image": {"filename": "/tmp/shear-lab-XXXXXX/rec1/scsi0.raw", "format": "raw", "virtual-size": 67109376}},
  {"node-name": "#block419", "drv": "file", "ro": false, "file": "/tmp/shear-lab-XXXXXX/rec1/scsi0.raw", "image": {"filename": "/tmp/shear-lab-XXXXXX/rec1/scsi0.raw", "format": "file", "virtual-size": 67109376}},
  {"node-name": "#block383", "drv": "raw", "ro": false, "file": "/tmp/shear-lab-XXXXXX/rec1/efidisk0.raw", "image": {"filename": "/tmp/shear-lab-XXXXXX/rec1/efidisk0.raw", "format": "raw", "virtual-size": 540672}},
  {"node-name": "#block272", "drv": "file", "ro": false, "file": "/tmp/shear-lab-XXXXXX/rec1/efidisk0.raw", "image": {"filename": "/tmp/shear-lab-XXXXXX/rec1/efidisk0.raw", "format": "file", "virtual-size": 540672}},
  {"node-name": "#block139", "drv": "raw", "ro": true, "file": "/usr/share/OVMF/OVMF_CODE_4M.fd", "image": {"filename": "/usr/share/OVMF/OVMF_CODE_4M.fd", "format": "raw", "virtual-size": 3653632}},
  {"node-name": "#block040", "drv": "file", "ro": true, "file": "/usr/share/OVMF/OVMF_CODE_4M.fd", "image": {"filename": "/usr/share/OVMF/OVMF_CODE_4M.fd", "format": "file", "virtual-size": 3653632}},
  {"node-name": "vd0-fmt", "drv": "qcow2", "ro": false, "file": "/tmp/shear-lab-XXXXXX/rec1/vd0.qcow2", "image": {"filename": "/tmp/shear-lab-XXXXXX/rec1/vd0.qcow2", "format": "qcow2", "virtual-size": 33554432}},
  {"node-name": "vd0-file", "drv": "file", "ro": false, "file": "/tmp/shear-lab-XXXXXX/rec1/vd0.qcow2", "image": {"filename": "/tmp/shear-lab-XXXXXX/rec1/vd0.qcow2", "format": "file", "virtual-size": 197120}},
]

const REC1_QEMU10_BLOCK = [
  {"device": "pflash0", "qdev": "/machine/system.flash0", "removable": false, "locked": false, "inserted": {"file": "/usr/share/OVMF/OVMF_CODE_4M.fd", "node-name": "#block169", "ro": true, "drv": "raw", "active": true, "image": {"filename": "/usr/share/OVMF/OVMF_CODE_4M.fd", "format": "raw", "virtual-size": 3653632}}},
  {"device": "drive-efidisk0", "qdev": "/machine/system.flash1", "removable": false, "locked": false, "inserted": {"file": "/tmp/shear-lab-XXXXXX/rec1/efidisk0.raw", "node-name": "#block328", "ro": false, "drv": "raw", "active": true, "image": {"filename": "/tmp/shear-lab-XXXXXX/rec1/efidisk0.raw", "format": "raw", "virtual-size": 540672}}},
  {"device": "drive-scsi0", "qdev": "scsi0", "removable": false, "locked": false, "inserted": {"file": "/tmp/shear-lab-XXXXXX/rec1/scsi0.raw", "node-name": "#block531", "ro": false, "drv": "raw", "active": true, "image": {"filename": "/tmp/shear-lab-XXXXXX/rec1/scsi0.raw", "format": "raw", "virtual-size": 67109376}}},
  {"device": "drive-ide2", "qdev": "ide2", "removable": true, "locked": false, "tray_open": false},
  {"device": "", "qdev": "/machine/peripheral/vd0/virtio-backend", "removable": false, "locked": false, "inserted": {"file": "/tmp/shear-lab-XXXXXX/rec1/vd0.qcow2", "node-name": "vd0-fmt", "ro": false, "drv": "qcow2", "active": true, "image": {"filename": "/tmp/shear-lab-XXXXXX/rec1/vd0.qcow2", "format": "qcow2", "virtual-size": 33554432}}},
]

const REC1_QEMU10_NODES = [
  {"node-name": "#block531", "drv": "raw", "ro": false, "file": "/tmp/shear-lab-XXXXXX/rec1/scsi0.raw", "image": {"filename": "/tmp/shear-lab-XXXXXX/rec1/scsi0.raw", "format": "raw", "virtual-size": 67109376}},
  {"node-name": "#block424", "drv": "file", "ro": false, "file": "/tmp/shear-lab-XXXXXX/rec1/scsi0.raw", "image": {"filename": "/tmp/shear-lab-XXXXXX/rec1/scsi0.raw", "format": "file", "virtual-size": 67109376}},
  {"node-name": "#block328", "drv": "raw", "ro": false, "file": "/tmp/shear-lab-XXXXXX/rec1/efidisk0.raw", "image": {"filename": "/tmp/shear-lab-XXXXXX/rec1/efidisk0.raw", "format": "raw", "virtual-size": 540672}},
  {"node-name": "#block294", "drv": "file", "ro": false, "file": "/tmp/shear-lab-XXXXXX/rec1/efidisk0.raw", "image": {"filename": "/tmp/shear-lab-XXXXXX/rec1/efidisk0.raw", "format": "file", "virtual-size": 540672}},
  {"node-name": "#block169", "drv": "raw", "ro": true, "file": "/usr/share/OVMF/OVMF_CODE_4M.fd", "image": {"filename": "/usr/share/OVMF/OVMF_CODE_4M.fd", "format": "raw", "virtual-size": 3653632}},
  {"node-name": "#block014", "drv": "file", "ro": true, "file": "/usr/share/OVMF/OVMF_CODE_4M.fd", "image": {"filename": "/usr/share/OVMF/OVMF_CODE_4M.fd", "format": "file", "virtual-size": 3653632}},
  {"node-name": "vd0-fmt", "drv": "qcow2", "ro": false, "file": "/tmp/shear-lab-XXXXXX/rec1/vd0.qcow2", "image": {"filename": "/tmp/shear-lab-XXXXXX/rec1/vd0.qcow2", "format": "qcow2", "virtual-size": 33554432}},
  {"node-name": "vd0-file", "drv": "file", "ro": false, "file": "/tmp/shear-lab-XXXXXX/rec1/vd0.qcow2", "image": {"filename": "/tmp/shear-lab-XXXXXX/rec1/vd0.qcow2", "format": "file", "virtual-size": 197120}},
]

const REC2_QEMU72_BLOCK = [
  {"device": "pflash0", "qdev": "/machine/system.flash0", "removable": false, "locked": false, "inserted": {"file": "/usr/share/OVMF/OVMF_CODE_4M.fd", "node-name": "#block106", "ro": true, "drv": "raw", "image": {"filename": "/usr/share/OVMF/OVMF_CODE_4M.fd", "format": "raw", "virtual-size": 3653632}}},
  {"device": "pflash1", "qdev": "/machine/system.flash1", "removable": false, "locked": false, "inserted": {"file": "/tmp/shear-rec/vars.fd", "node-name": "#block358", "ro": false, "drv": "raw", "image": {"filename": "/tmp/shear-rec/vars.fd", "format": "raw", "virtual-size": 540672}}},
  {"device": "drive-virtio1", "qdev": "/machine/peripheral/virtio1/virtio-backend", "removable": false, "locked": false, "inserted": {"file": "/tmp/shear-rec/overlay.qcow2", "node-name": "#block527", "ro": false, "drv": "qcow2", "backing_file": "/tmp/shear-rec/base.qcow2", "image": {"filename": "/tmp/shear-rec/overlay.qcow2", "format": "qcow2", "virtual-size": 50331648, "backing-filename": "/tmp/shear-rec/base.qcow2"}}},
]

const REC2_QEMU10_BLOCK = [
  {"device": "pflash0", "qdev": "/machine/system.flash0", "removable": false, "locked": false, "inserted": {"file": "/usr/share/OVMF/OVMF_CODE_4M.fd", "node-name": "#block183", "ro": true, "drv": "raw", "active": true, "image": {"filename": "/usr/share/OVMF/OVMF_CODE_4M.fd", "format": "raw", "virtual-size": 3653632}}},
  {"device": "pflash1", "qdev": "/machine/system.flash1", "removable": false, "locked": false, "inserted": {"file": "/tmp/shear-rec/vars.fd", "node-name": "#block303", "ro": false, "drv": "raw", "active": true, "image": {"filename": "/tmp/shear-rec/vars.fd", "format": "raw", "virtual-size": 540672}}},
  {"device": "drive-virtio1", "qdev": "/machine/peripheral/virtio1/virtio-backend", "removable": false, "locked": false, "inserted": {"file": "/tmp/shear-rec/overlay.qcow2", "node-name": "#block507", "ro": false, "drv": "qcow2", "active": true, "backing_file": "/tmp/shear-rec/base.qcow2", "image": {"filename": "/tmp/shear-rec/overlay.qcow2", "format": "qcow2", "virtual-size": 50331648, "backing-filename": "/tmp/shear-rec/base.qcow2"}}},
]

const asReply = (reply: readonly object[]): BlockInfo[] => reply as BlockInfo[];
const asNodes = (reply: readonly object[]): NamedBlockNode[] => reply as NamedBlockNode[];

const REC1_DISKS: VmDisk[] = [
  {
    device: 'efidisk0',
    qomPath: '/machine/system.flash1',
    blockBackend: 'drive-efidisk0',
    nodeName: '#block383',
    format: 'raw',
    sizeBytes: 540672,
    file: '/tmp/shear-lab-XXXXXX/rec1/efidisk0.raw',
    backingFile: null,
    role: 'efivars',
  },
  {
    device: 'scsi0',
    qomPath: '/machine/peripheral/scsi0',
    blockBackend: 'drive-scsi0',
    nodeName: '#block548',
    format: 'raw',
    sizeBytes: 64 * 1024 * 1024 + 512,
    file: '/tmp/shear-lab-XXXXXX/rec1/scsi0.raw',
    backingFile: null,
    role: 'disk',
  },
  {
    device: 'vd0',
    qomPath: '/machine/peripheral/vd0/virtio-backend',
    blockBackend: '',
    nodeName: 'vd0-fmt',
    format: 'qcow2',
    sizeBytes: 32 * 1024 * 1024,
    file: '/tmp/shear-lab-XXXXXX/rec1/vd0.qcow2',
    backingFile: null,
    role: 'disk',
  },
];

describe('disksFromQueryBlock on recorded replies', () => {
  it('QEMU 7.2, lab VM rec1: skips the OVMF code and the empty cdrom; ids, QOM paths, nodes, exact sizes, roles', () => {
    expect(disksFromQueryBlock(asReply(REC1_QEMU72_BLOCK), asNodes(REC1_QEMU72_NODES))).toEqual(REC1_DISKS);
  });

  it('QEMU 10.0, lab VM rec1: the same disks (only automatic node names differ)', () => {
    const nodeNames: Record<string, string> = { efidisk0: '#block328', scsi0: '#block531', vd0: 'vd0-fmt' };
    expect(disksFromQueryBlock(asReply(REC1_QEMU10_BLOCK), asNodes(REC1_QEMU10_NODES))).toEqual(
      REC1_DISKS.map((d) => ({ ...d, nodeName: nodeNames[d.device] })),
    );
  });

  it('works without query-named-block-nodes', () => {
    expect(disksFromQueryBlock(asReply(REC1_QEMU72_BLOCK))).toEqual(REC1_DISKS);
  });

  for (const [qemu, reply, vars, overlay] of [
    ['7.2', REC2_QEMU72_BLOCK, '#block358', '#block527'],
    ['10.0', REC2_QEMU10_BLOCK, '#block303', '#block507'],
  ] as const) {
    it(`QEMU ${qemu}, rec2: an unnamed pflash is "pflash1" (efivars); a Proxmox virtio disk is "virtio1" with its backing file`, () => {
      expect(disksFromQueryBlock(asReply(reply))).toEqual([
        {
          device: 'pflash1',
          qomPath: '/machine/system.flash1',
          blockBackend: 'pflash1',
          nodeName: vars,
          format: 'raw',
          sizeBytes: 540672,
          file: '/tmp/shear-rec/vars.fd',
          backingFile: null,
          role: 'efivars',
        },
        {
          device: 'virtio1',
          qomPath: '/machine/peripheral/virtio1/virtio-backend',
          blockBackend: 'drive-virtio1',
          nodeName: overlay,
          format: 'qcow2',
          sizeBytes: 48 * 1024 * 1024,
          file: '/tmp/shear-rec/overlay.qcow2',
          backingFile: '/tmp/shear-rec/base.qcow2',
          role: 'disk',
        },
      ]);
    });
  }

  it('refuses a size the two queries disagree on', () => {
    const nodes = REC1_QEMU72_NODES.map((n) => (n['node-name'] === '#block548' ? { ...n, image: { ...n.image, 'virtual-size': 64 * 1024 * 1024 } } : n));
    expect(() => disksFromQueryBlock(asReply(REC1_QEMU72_BLOCK), asNodes(nodes))).toThrow(
      /disk scsi0: QEMU reports two sizes for node #block548 \(query-block 67109376, query-named-block-nodes 67108864\)/,
    );
  });
});

/** A writable drive with just what the mapping reads. */
function drive(device: string, qdev: string | undefined, extra: { node?: string; size?: number; backing?: string } = {}): BlockInfo {
  return {
    device,
    ...(qdev !== undefined ? { qdev } : {}),
    removable: false,
    locked: false,
    inserted: {
      file: `/img/${device || 'anon'}`,
      'node-name': extra.node ?? `#block-${device}`,
      ro: false,
      drv: 'raw',
      image: { filename: `/img/${device}`, format: 'raw', 'virtual-size': extra.size ?? 1024 * 1024, ...(extra.backing ? { 'backing-filename': extra.backing } : {}) },
    },
  };
}

describe('disksFromQueryBlock: naming, roles and order', () => {
  it('names Proxmox drives without a device after their BlockBackend, with no QOM path', () => {
    expect(disksFromQueryBlock([drive('drive-sata1', undefined)])[0]).toMatchObject({ device: 'sata1', qomPath: '', blockBackend: 'drive-sata1' });
  });

  it('detects Proxmox efidisk and tpmstate drives and Arm virt flash', () => {
    const disks = disksFromQueryBlock([
      drive('drive-tpmstate0', undefined),
      drive('drive-efidisk0', '/machine/system.flash1'),
      drive('', '/machine/virt.flash1', { node: 'vars' }),
      drive('drive-scsi1', 'scsi1'),
    ]);
    expect(disks.map((d) => [d.device, d.role, d.qomPath])).toEqual([
      ['efidisk0', 'efivars', '/machine/system.flash1'],
      ['pflash1', 'efivars', '/machine/virt.flash1'],
      ['scsi1', 'disk', '/machine/peripheral/scsi1'],
      ['tpmstate0', 'tpmstate', ''],
    ]);
  });

  it('orders by device id in natural order, whatever query-block\'s order', () => {
    const disks = disksFromQueryBlock([
      drive('drive-virtio10', '/machine/peripheral/virtio10/virtio-backend'),
      drive('drive-scsi2', 'scsi2'),
      drive('drive-virtio2', '/machine/peripheral/virtio2/virtio-backend'),
      drive('drive-scsi10', 'scsi10'),
      drive('drive-efidisk0', '/machine/system.flash1'),
    ]);
    expect(disks.map((d) => d.device)).toEqual(['efidisk0', 'scsi2', 'scsi10', 'virtio2', 'virtio10']);
  });

  it('falls back to the BlockBackend, then the node name, for devices without an id', () => {
    const disks = disksFromQueryBlock([
      drive('ide0-hd0', '/machine/unattached/device[23]'),
      drive('', '/machine/peripheral-anon/device[1]/virtio-backend', { node: 'data-fmt' }),
    ]);
    expect(disks.map((d) => [d.device, d.qomPath])).toEqual([
      ['data-fmt', '/machine/peripheral-anon/device[1]/virtio-backend'],
      ['ide0-hd0', '/machine/unattached/device[23]'],
    ]);
  });

  it('names an anonymous board flash pflash<N>, or after a Proxmox-style node name (-machine pflash1=drive-efidisk0)', () => {
    const disks = disksFromQueryBlock([drive('', '/machine/system.flash1', { node: '#block123' }), drive('', '/machine/virt.flash1', { node: 'drive-efidisk0' })]);
    expect(disks.map((d) => [d.device, d.role, d.blockBackend])).toEqual([
      ['efidisk0', 'efivars', ''],
      ['pflash1', 'efivars', ''],
    ]);
  });

  it('keeps device ids unique and takes the backing file from the image when backing_file is absent', () => {
    const disks = disksFromQueryBlock([drive('drive-x', 'x'), drive('x', undefined, { backing: '/img/base' })]);
    expect(disks.map((d) => [d.device, d.backingFile])).toEqual([
      ['x', '/img/base'],
      ['x-2', null],
    ]);
  });

  it('formats the version', () => {
    expect(qemuVersionString({ qemu: { major: 10, minor: 0, micro: 2 }, package: '' })).toBe('10.0.2');
  });
});

describe('reasonToSkip', () => {
  it('leaves out SCSI passthrough devices and empty drives, and nothing else', () => {
    expect(reasonToSkip({ sizeBytes: 8 << 30 }, 'scsi-block')).toMatch(/SCSI passthrough device \(scsi-block\).*bypasses QEMU's block layer/);
    expect(reasonToSkip({ sizeBytes: 8 << 30 }, 'scsi-generic')).toMatch(/scsi-generic/);
    expect(reasonToSkip({ sizeBytes: 0 }, 'virtio-blk-pci')).toMatch(/^empty \(0 bytes\)/);
    // Emulated disks of every bus, and a type that could not be read, are backed up.
    for (const type of ['virtio-blk-pci', 'scsi-hd', 'ide-hd', 'nvme', 'usb-storage', 'floppy', 'cfi.pflash01', '']) {
      expect(reasonToSkip({ sizeBytes: 512 }, type)).toBeNull();
    }
  });
});
