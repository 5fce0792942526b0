import { describe, expect, it } from 'vitest';
import { configVolumes, driveSizeBytes, openVolume, VolumeNotLocalError } from '../../electron/engine/hosts/proxmox-volumes.js';
import { ProxmoxStorage } from '../../electron/engine/storage/proxmox.js';
import { scriptedHost } from '../support/scripted-host.js';

/**
 * Outputs below are shaped as Proxmox prints them (pvesh --output-format json:
 * one line, keys sorted; pvesm alloc: "successfully created '<volid>'"), taken
 * from qemu-server/pve-storage's API schemas and CLI code.
 */
const STORAGE_LIST =
  '[{"active":1,"avail":52613349376,"content":"iso,vztmpl,backup","enabled":1,"shared":0,"storage":"local","total":100861726720,"type":"dir","used":48248377344,"used_fraction":0.478},' +
  '{"active":1,"avail":1288490188,"content":"images,rootdir","enabled":1,"shared":0,"storage":"local-lvm","total":1503238553,"type":"lvmthin","used":214748365,"used_fraction":0.143},' +
  '{"active":0,"avail":0,"content":"images","enabled":1,"shared":1,"storage":"nas","total":0,"type":"nfs","used":0,"used_fraction":0}]';

describe('Proxmox storages through pvesm', () => {
  it('allocates in KiB with pvesm, cuts qcow2 back to the exact size, and frees by volume id', async () => {
    const host = scriptedHost((argv) => {
      if (argv[0] === 'pvesh') return { stdout: '[]' };
      if (argv[1] === 'alloc') return { stdout: "successfully created 'nas:100/vm-100-fleece-0.qcow2'\n" };
      if (argv[1] === 'path') return { stdout: '/mnt/pve/nas/images/100/vm-100-fleece-0.qcow2\n' };
      if (argv[0] === 'test') return { code: 1 };
      return {};
    });
    const nas = new ProxmoxStorage('nfs', 'nas');
    const img = await nas.allocate(host, 'vm-100-fleece-0.qcow2', 64 * 1024 * 1024 + 512, 'qcow2');
    expect(img).toEqual({ name: 'vm-100-fleece-0.qcow2', path: '/mnt/pve/nas/images/100/vm-100-fleece-0.qcow2', format: 'qcow2', sizeBytes: 64 * 1024 * 1024 + 512, blockDevice: false });
    expect(host.calls).toEqual([
      ['pvesh', 'get', '/nodes/localhost/storage/nas/content', '--output-format', 'json'],
      ['pvesm', 'alloc', 'nas', '100', 'vm-100-fleece-0.qcow2', '65537', '--format', 'qcow2'],
      ['pvesm', 'path', 'nas:100/vm-100-fleece-0.qcow2'],
      ['qemu-img', 'resize', '-q', '-f', 'qcow2', '--shrink', '/mnt/pve/nas/images/100/vm-100-fleece-0.qcow2', String(64 * 1024 * 1024 + 512)],
      ['test', '-b', '/mnt/pve/nas/images/100/vm-100-fleece-0.qcow2'],
    ]);
  });

  it('names raw volumes without an extension on block storages and reports the rounded-up size', async () => {
    const host = scriptedHost((argv) => {
      if (argv[0] === 'pvesh') return { stdout: '[]' };
      if (argv[1] === 'alloc') return { stdout: "successfully created 'local-lvm:vm-100-fleece-1'\n" };
      if (argv[1] === 'path') return { stdout: '/dev/pve/vm-100-fleece-1\n' };
      return {};
    });
    const lvm = new ProxmoxStorage('lvmthin', 'local-lvm');
    expect(lvm.formats).toEqual(['raw']);
    const img = await lvm.allocate(host, 'vm-100-fleece-1', 1000 * 1024 + 512, 'raw');
    expect(img).toMatchObject({ path: '/dev/pve/vm-100-fleece-1', sizeBytes: 1001 * 1024, blockDevice: true });
    await expect(lvm.allocate(host, 'vm-100-fleece-1', 1024, 'qcow2')).rejects.toThrow(/cannot hold qcow2/);
    expect(() => lvm.volid('web-fleece-0')).toThrow(/not a Proxmox VM volume name/);
  });

  it('refuses an existing volume, and frees only what exists', async () => {
    const existing = '[{"content":"images","ctime":1732590000,"format":"raw","size":1048576,"vmid":100,"volid":"local-lvm:vm-100-fleece-0"}]';
    const host = scriptedHost((argv) => (argv[0] === 'pvesh' ? { stdout: existing } : argv[1] === 'path' ? { stdout: '/dev/pve/vm-100-fleece-0\n' } : {}));
    const lvm = new ProxmoxStorage('lvmthin', 'local-lvm');
    await expect(lvm.allocate(host, 'vm-100-fleece-0', 1024, 'raw')).rejects.toThrow(/exists already/);
    expect(await lvm.list(host, /^vm-\d+-fleece-\d+$/)).toEqual([
      { name: 'vm-100-fleece-0', path: '/dev/pve/vm-100-fleece-0', format: 'raw', sizeBytes: 1048576, blockDevice: true, createdMs: 1732590000000 },
    ]);
    await lvm.free(host, 'vm-100-fleece-0');
    await lvm.free(host, 'vm-100-fleece-9');
    expect(host.calls.filter((c) => c[1] === 'free')).toEqual([['pvesm', 'free', 'local-lvm:vm-100-fleece-0']]);
  });

  it('reads free space from the node\'s storage status and refuses an inactive storage', async () => {
    const host = scriptedHost(() => ({ stdout: STORAGE_LIST }));
    expect(await new ProxmoxStorage('lvmthin', 'local-lvm').freeBytes(host)).toBe(1288490188);
    await expect(new ProxmoxStorage('nfs', 'nas').freeBytes(host)).rejects.toThrow(/not active/);
  });
});

describe('Proxmox config volumes', () => {
  it('finds every disk volume of a config, skipping CD-ROMs, none and pass-through', () => {
    const config = {
      boot: 'order=scsi0;net0', digest: 'abc', name: 'web', scsihw: 'virtio-scsi-single',
      scsi0: 'local-lvm:vm-100-disk-0,iothread=1,size=32G',
      scsi10: 'local-lvm:vm-100-disk-3,size=1G',
      scsi2: 'local-lvm:vm-100-disk-2,size=4G',
      virtio1: 'nas:100/vm-100-disk-4.qcow2,size=8G',
      sata0: '/dev/disk/by-id/ata-SAMSUNG_SSD,size=500G',
      ide2: 'local:iso/debian-12.iso,media=cdrom,size=628M',
      ide0: 'none,media=cdrom',
      efidisk0: 'local-lvm:vm-100-disk-1,efitype=4m,pre-enrolled-keys=1,size=4M',
      tpmstate0: 'local-lvm:vm-100-disk-5,size=4M,version=v2.0',
      net0: 'virtio=BC:24:11:00:00:01,bridge=vmbr0',
      unused0: 'local-lvm:vm-100-disk-9',
    };
    expect(configVolumes(config)).toEqual([
      { key: 'efidisk0', volid: 'local-lvm:vm-100-disk-1', role: 'efivars' },
      { key: 'scsi0', volid: 'local-lvm:vm-100-disk-0', role: 'disk' },
      { key: 'scsi2', volid: 'local-lvm:vm-100-disk-2', role: 'disk' },
      { key: 'scsi10', volid: 'local-lvm:vm-100-disk-3', role: 'disk' },
      { key: 'tpmstate0', volid: 'local-lvm:vm-100-disk-5', role: 'tpmstate' },
      { key: 'virtio1', volid: 'nas:100/vm-100-disk-4.qcow2', role: 'disk' },
    ]);
  });
});

describe('openVolume', () => {
  const info = (size: number) => JSON.stringify({ 'virtual-size': size, filename: '/dev/pve/vm-101-disk-0', format: 'raw' });

  it('activates an inactive LVM volume with lvchange and returns its deactivation', async () => {
    let active = false;
    const host = scriptedHost((argv) => {
      if (argv[0] === 'pvesm') return { stdout: '/dev/pve/vm-101-disk-0\n' };
      if (argv[0] === 'sh') return { stdout: active ? `block\n${info(4194304)}` : 'missing\n' };
      // pve-storage Config.pm read of an lvmthin storage: vgname and thinpool, no path.
      if (argv[0] === 'pvesh') return { stdout: '{"content":"images,rootdir","digest":"ab","storage":"local-lvm","thinpool":"data","type":"lvmthin","vgname":"pve"}' };
      if (argv[0] === 'lvchange') active = argv[1] === '-ay';
      return {};
    });
    const v = await openVolume(host, 'local-lvm:vm-101-disk-0');
    expect(v).toMatchObject({ path: '/dev/pve/vm-101-disk-0', format: 'raw', sizeBytes: 4194304, blockDevice: true });
    expect(host.calls.filter((c) => c[0] === 'lvchange')).toEqual([['lvchange', '-ay', '-K', 'pve/vm-101-disk-0']]);
    await v.release?.();
    expect(host.calls.at(-1)).toEqual(['lvchange', '-an', 'pve/vm-101-disk-0']);
    expect(active).toBe(false);
  });

  it('leaves an active volume alone and reads the format from the volume name', async () => {
    const host = scriptedHost((argv) => (argv[0] === 'pvesm' ? { stdout: '/var/lib/vz/images/100/vm-100-disk-0.qcow2\n' } : { stdout: `file\n${info(34359738368)}` }));
    const v = await openVolume(host, 'local:100/vm-100-disk-0.qcow2');
    expect(v).toMatchObject({ format: 'qcow2', sizeBytes: 34359738368, blockDevice: false, release: null });
    expect(host.calls.find((c) => c[0] === 'sh')?.slice(-2)).toEqual(['/var/lib/vz/images/100/vm-100-disk-0.qcow2', 'qcow2']);
  });

  it('names the volume when it is missing on a storage Shear cannot activate', async () => {
    const host = scriptedHost((argv) =>
      argv[0] === 'pvesm' ? { stdout: '/dev/rbd/ceph/vm-100-disk-0\n' } : argv[0] === 'pvesh' ? { stdout: '{"storage":"ceph","type":"rbd","krbd":1,"pool":"rbd","content":"images"}' } : { stdout: 'missing\n' });
    await expect(openVolume(host, 'ceph:vm-100-disk-0')).rejects.toThrow(/volume ceph:vm-100-disk-0 is not available at \/dev\/rbd\/ceph\/vm-100-disk-0 \(storage ceph, type rbd\)/);
    expect(host.calls.some((c) => c[0] === 'lvchange')).toBe(false);
  });

  it('refuses a volume pvesm names by URL (librbd) before probing it', async () => {
    const host = scriptedHost(() => ({ stdout: 'rbd:ceph/vm-100-disk-1:mon_host=10.0.0.1:auth_supported=none\n' }));
    await expect(openVolume(host, 'ceph:vm-100-disk-1')).rejects.toBeInstanceOf(VolumeNotLocalError);
    expect(host.calls).toEqual([['pvesm', 'path', 'ceph:vm-100-disk-1']]);
  });

  it('says so when lvchange fails', async () => {
    const host = scriptedHost((argv) =>
      argv[0] === 'pvesm' ? { stdout: '/dev/vg0/vm-100-disk-0\n' } : argv[0] === 'pvesh' ? { stdout: '{"storage":"lvm","type":"lvm","vgname":"vg0","content":"images"}' }
        : argv[0] === 'lvchange' ? { code: 5, stderr: '  Failed to find logical volume "vg0/vm-100-disk-0"\n' } : { stdout: 'missing\n' });
    await expect(openVolume(host, 'lvm:vm-100-disk-0')).rejects.toThrow(/inactive and activating vg0\/vm-100-disk-0 failed: Failed to find logical volume/);
  });
});

describe('driveSizeBytes', () => {
  it('reads the size qemu-server records on a drive line, in K, M, G or T, and 0 without one', () => {
    expect(driveSizeBytes('local:100/vm-100-disk-0.qcow2,size=32G')).toBe(32 * 1024 ** 3);
    expect(driveSizeBytes('local-lvm:vm-100-disk-1,discard=on,size=528K,efitype=4m')).toBe(528 * 1024);
    expect(driveSizeBytes('local:100/vm-100-disk-2.raw,size=4M,version=v2.0')).toBe(4 * 1024 ** 2);
    expect(driveSizeBytes('ceph:vm-100-disk-3,size=1.5T')).toBe(1.5 * 1024 ** 4);
    expect(driveSizeBytes('local:iso/debian.iso,media=cdrom')).toBe(0);
    expect(driveSizeBytes(undefined)).toBe(0);
  });
});
