import type { VmSummary } from '../../../shared/model.js';
import type { BackupOptions } from '../backup/run-backup.js';
import { parseStorageSpec, type Storage } from '../storage/storage.js';
import { listVms } from './discovery.js';
import type { HostSession } from './host-session.js';
import { isProxmox, listProxmoxVms, lockForBackup, proxmoxConfig, proxmoxStorageById } from './proxmox.js';

/** What differs between a plain QEMU host and a Proxmox VE host, chosen once per host. */
export interface HostDriver {
  kind: 'plain' | 'proxmox';
  listVms(): Promise<VmSummary[]>;
  /** `dir:/…`, `lvmthin:…`, `zfs:…`, `pve:<type>:<id>`, or on Proxmox a plain storage id. */
  resolveStorage(spec: string): Promise<Storage>;
  platformFor(vm: VmSummary): BackupOptions['platform'];
}

export async function hostDriver(host: HostSession): Promise<HostDriver> {
  if (await isProxmox(host)) {
    return {
      kind: 'proxmox',
      listVms: () => listProxmoxVms(host),
      resolveStorage: async (spec) => (spec.includes(':') ? parseStorageSpec(spec) : proxmoxStorageById(host, spec)),
      platformFor: (vm) => {
        const vmid = vm.proxmox?.vmid;
        if (vmid === undefined) return undefined;
        return {
          lock: () => lockForBackup(host, vmid),
          definition: async () => ({ kind: 'proxmox-vm-config', vmid, config: await proxmoxConfig(host, vmid) }),
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
  };
}
