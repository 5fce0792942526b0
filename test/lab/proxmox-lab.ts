import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startLabHost, type LabHost } from './lab-host.js';
import { requireTool, tempDir } from './tools.js';
import type { DiskSpec } from './vm-spec.js';

/**
 * A Proxmox-shaped lab host: the real sshd and real QEMU VMs, plus STAND-INS for
 * `pveversion`, `pvesh`, `pvesm` and `qm` (test/lab/proxmox-standins/, Python,
 * output shaped as Proxmox documents it) first on the SSH session's PATH. Two
 * storages: `local` (type dir, qcow2 and raw files) and `fast` (type lvmthin,
 * raw volumes — plain files here, where the real one has /dev/<vg>/<lv>).
 */
const STANDINS = join(import.meta.dirname, 'proxmox-standins');

export interface PveVmSpec {
  vmid: number;
  name: string;
  /** Disk ids become Proxmox drive keys: scsi0 → `drive-scsi0`, efidisk0 → pflash. */
  disks: DiskSpec[];
  /** Default true. A stopped VM or template has no QEMU: its volumes are created on the storages. */
  running?: boolean;
  template?: boolean;
  /** Adds a `tpmstate0` volume to the config (swtpm's state: no QEMU drive while running), filled with `tpmPattern`. */
  tpm?: boolean;
  /** Stopped VMs: their `fast` (LVM) volumes are inactive, as after `qm stop` on plain LVM or for a template's thin volumes. */
  inactive?: boolean;
}

/** The TPM state volume's content: byte i is (i * 7 + 3) mod 251, so any misplaced block shows. */
export function tpmPattern(size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (i * 7 + 3) % 251;
  return b;
}

export interface ProxmoxLab {
  lab: LabHost;
  dir: string;
  statePath: string;
  storagePath(id: 'local' | 'fast'): string;
  /** Where the stand-in keeps a volume's data now (what `pvesm path` prints, or where an inactive LV waits). */
  volumePath(volid: string): string;
  /** The stand-ins' state: VMs (with lock), volumes, and every state-changing call made. */
  state(): { vms: Record<string, { lock?: string }>; calls?: string[][]; storages: Record<string, { volumes?: Record<string, unknown> }> };
  stop(): Promise<void>;
}

export async function startProxmoxLab(o: { vms: PveVmSpec[] }): Promise<ProxmoxLab> {
  requireTool('python3', 'python3');
  const dir = await tempDir('shear-pve-');
  const storages = {
    local: { type: 'dir', content: 'images,iso,backup', path: join(dir, 'local') },
    fast: { type: 'lvmthin', content: 'images', path: join(dir, 'fast'), vgname: 'pve', thinpool: 'data' },
    // Ceph RBD without krbd (Proxmox's default): volumes are reached through librbd, not a host path.
    ceph: { type: 'rbd', content: 'images', path: join(dir, 'ceph'), pool: 'rbd' },
  };
  for (const s of Object.values(storages)) mkdirSync(s.path, { recursive: true });
  const statePath = join(dir, 'pve-state.json');
  writeFileSync(statePath, JSON.stringify({ node: 'pve-lab', version: '8.2.4', vms: {}, storages }));

  let lab: LabHost;
  try {
    lab = await startLabHost({
      sshd: {
        // Proxmox's tools are root's commands on PATH; here the stand-ins come first.
        extraConfig: [`SetEnv PATH=${STANDINS}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin SHEAR_PVE_STATE=${statePath}`],
      },
      vms: o.vms.filter((vm) => vm.running !== false && !vm.template).map((vm) => ({ name: vm.name, disks: vm.disks })),
    });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  // Each running VM's disks appear as volumes of `local`, its config names them as Proxmox does.
  const state = JSON.parse(readFileSync(statePath, 'utf8')) as { vms: Record<string, unknown>; storages: typeof storages & Record<string, { volumes?: Record<string, unknown> }> };
  for (const spec of o.vms.filter((vm) => vm.running === false || vm.template)) {
    // qcow2 disks on `local`, raw ones on `fast`, EFI vars raw on `local`; templates use base- names.
    const prefix = spec.template ? 'base' : 'vm';
    const config: Record<string, string | number> = { name: spec.name, memory: 128, scsihw: 'virtio-scsi-pci', ostype: 'l26', ...(spec.template ? { template: 1 } : {}) };
    spec.disks.forEach((disk, n) => {
      const efi = disk.bus === 'efivars';
      const format = efi ? 'raw' : (disk.format ?? 'qcow2');
      const size = efi ? 540672 : disk.sizeBytes;
      const onLocal = format === 'qcow2' || efi;
      const volname = onLocal ? `${spec.vmid}/${prefix}-${spec.vmid}-disk-${n}.${format}` : `${prefix}-${spec.vmid}-disk-${n}`;
      const storageId = onLocal ? 'local' : 'fast';
      const path = onLocal ? join(storages.local.path, 'images', volname) : join(storages.fast.path, spec.inactive ? '.inactive' : '', volname);
      mkdirSync(join(path, '..'), { recursive: true });
      execFileSync(requireTool('qemu-img', 'qemu-utils'), ['create', '-q', '-f', format, path, String(size)]);
      ((state.storages[storageId] as { volumes?: Record<string, unknown> }).volumes ??= {})[`${storageId}:${volname}`] = { vmid: spec.vmid, format };
      config[efi ? 'efidisk0' : disk.id] = `${storageId}:${volname},size=${Math.ceil(size / 1024)}K${efi ? ',efitype=4m' : ''}`;
    });
    config.ide2 = 'none,media=cdrom';
    state.vms[String(spec.vmid)] = { name: spec.name, pid: null, template: spec.template ?? false, config };
  }
  for (const spec of o.vms.filter((vm) => vm.running !== false && !vm.template)) {
    const vm = lab.vm(spec.name);
    const config: Record<string, string | number> = { name: spec.name, memory: 128, scsihw: 'virtio-scsi-pci', ostype: 'l26' };
    const imagesDir = join(storages.local.path, 'images', String(spec.vmid));
    mkdirSync(imagesDir, { recursive: true });
    vm.disks.forEach((disk, n) => {
      const volname = `${spec.vmid}/vm-${spec.vmid}-disk-${n}.${disk.format}`;
      symlinkSync(disk.path, join(storages.local.path, 'images', volname));
      ((state.storages.local as { volumes?: Record<string, unknown> }).volumes ??= {})[`local:${volname}`] = { vmid: spec.vmid, format: disk.format };
      const size = `${Math.ceil(disk.sizeBytes / 1024)}K`;
      config[disk.bus === 'efivars' ? 'efidisk0' : disk.id] = `local:${volname},size=${size}${disk.bus === 'efivars' ? ',efitype=4m' : ''}`;
    });
    if (spec.tpm) {
      const volname = `${spec.vmid}/vm-${spec.vmid}-disk-${vm.disks.length}.raw`;
      writeFileSync(join(storages.local.path, 'images', volname), tpmPattern(4 * 1024 * 1024));
      ((state.storages.local as { volumes?: Record<string, unknown> }).volumes ??= {})[`local:${volname}`] = { vmid: spec.vmid, format: 'raw' };
      config.tpmstate0 = `local:${volname},size=4M,version=v2.0`;
    }
    state.vms[String(spec.vmid)] = { name: spec.name, pid: vm.pid, template: false, config };
  }
  writeFileSync(statePath, JSON.stringify(state, null, 1));

  return {
    lab,
    dir,
    statePath,
    storagePath: (id) => storages[id].path,
    volumePath: (volid) => {
      const [sid, volname] = volid.split(':') as ['local' | 'fast', string];
      if (sid === 'local') return join(storages.local.path, 'images', volname);
      // An inactive "LV" of the lvchange stand-in waits in .inactive/.
      const hidden = join(storages.fast.path, '.inactive', volname);
      return existsSync(hidden) ? hidden : join(storages.fast.path, volname);
    },
    state: () => JSON.parse(readFileSync(statePath, 'utf8')) as ReturnType<ProxmoxLab['state']>,
    stop: async () => {
      try {
        await lab.stop();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
