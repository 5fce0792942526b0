import type { VmDetails, VmSummary } from '../../../shared/model.js';
import type { BackupOptions, ReadOnlyVolume } from '../backup/run-backup.js';
import { parseStorageSpec, type Storage } from '../storage/storage.js';
import { listVms } from './discovery.js';
import { configVolumes, openVolume, VolumeNotLocalError } from './proxmox-volumes.js';
import type { HostSession } from './host-session.js';
import { isProxmox, listProxmoxVms, lockVm, proxmoxBackupFolder, proxmoxConfig, proxmoxStorageById } from './proxmox.js';

/** What differs between a plain QEMU host and a Proxmox VE host, chosen once per host. */
export interface HostDriver {
  kind: 'plain' | 'proxmox';
  listVms(): Promise<VmSummary[]>;
  /** `dir:/…`, `lvmthin:…`, `zfs:…`, `pve:<type>:<id>`, or on Proxmox a plain storage id. */
  resolveStorage(spec: string): Promise<Storage>;
  platformFor(vm: VmSummary): BackupOptions['platform'];
  /** `dir:/path`, or on Proxmox the id of a storage with backup content: the archive folder. */
  resolveTarget(spec: string): Promise<string>;
}

function dirTarget(spec: string): string | null {
  return spec.startsWith('dir:/') ? spec.slice(4) : null;
}

export async function hostDriver(host: HostSession): Promise<HostDriver> {
  if (await isProxmox(host)) {
    return {
      kind: 'proxmox',
      listVms: () => listProxmoxVms(host),
      resolveStorage: async (spec) => (spec.includes(':') ? parseStorageSpec(spec) : proxmoxStorageById(host, spec)),
      resolveTarget: async (spec) => dirTarget(spec) ?? proxmoxBackupFolder(host, spec),
      platformFor: (vm) => {
        const vmid = vm.proxmox?.vmid;
        if (vmid === undefined) return undefined;
        return {
          lock: () => lockVm(host, vmid, 'backup'),
          definition: async () => ({ kind: 'proxmox-vm-config', vmid, config: await proxmoxConfig(host, vmid) }),
          // A running VM's TPM state belongs to swtpm, not to QEMU's block layer: vzdump attaches the
          // volume read-only for the backup (qemu-server VZDump/QemuServer.pm, tpmstate0-backup); so does Shear.
          readOnlyVolumes: async (warn) => {
            const tpm = configVolumes(await proxmoxConfig(host, vmid)).filter((v) => v.role === 'tpmstate');
            const out: ReadOnlyVolume[] = [];
            for (const v of tpm) {
              try {
                out.push({ device: v.key, role: v.role, ...(await openVolume(host, v.volid)) });
              } catch (err) {
                // Only a local file or device can be opened read-only here (not librbd, iSCSI or gluster URLs).
                if (!(err instanceof VolumeNotLocalError)) throw err;
                warn(`VM ${vmid}: its TPM state ${err.message}; it is not in this backup`);
              }
            }
            return out;
          },
        };
      },
    };
  }
  return {
    kind: 'plain',
    listVms: () => listVms(host),
    resolveStorage: async (spec) => {
      if (!spec.includes(':')) throw new Error(`storage "${spec}": this is not a Proxmox VE host; give dir:/path, lvmthin:vg/pool or zfs:pool/dataset`);
      return parseStorageSpec(spec);
    },
    platformFor: () => undefined,
    resolveTarget: async (spec) => {
      const dir = dirTarget(spec);
      if (!dir) throw new Error(`target "${spec}": this is not a Proxmox VE host; give dir:/absolute/path`);
      return dir;
    },
  };
}

/** Resolves each storage spec in turn (the CLI's flags, the desktop's requests). */
export async function resolveStorages(driver: HostDriver, specs: string[]): Promise<Storage[]> {
  const out: Storage[] = [];
  for (const spec of specs) out.push(await driver.resolveStorage(spec));
  return out;
}

/** A VM no QEMU runs (a stopped Proxmox VM or template): listed, but its disks are only known from QEMU. */
export function detailsWithoutQemu(vm: VmSummary): VmDetails {
  return { ...vm, runState: vm.proxmox?.template ? 'template' : (vm.proxmox?.status ?? 'stopped'), qemuVersion: '', disks: [] };
}
