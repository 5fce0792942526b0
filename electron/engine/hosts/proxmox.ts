import type { VmSummary } from '../../../shared/model.js';
import { ProxmoxStorage } from '../storage/proxmox.js';
import { listVms } from './discovery.js';
import type { HostSession } from './host-session.js';
import { outcomeUnknown, UncertainOutcomeError, type ExecResult } from '../ssh/exec.js';

/**
 * Proxmox VE hosts, through Proxmox's public command-line tools only: `pvesh`
 * for VMs, configs and storages, `qm` for the backup lock, `pvesm` (in
 * storage/proxmox.ts) for volumes. The VM itself is still reached over its QMP
 * socket, found on the running QEMU's command line.
 */

async function pvesh<T>(host: HostSession, path: string, extra: string[] = []): Promise<T> {
  const r = await host.execChecked(['pvesh', 'get', path, ...extra, '--output-format', 'json'], { timeoutMs: 60_000 });
  return JSON.parse(r.stdout) as T;
}

/** `pveversion` answers only on a Proxmox VE host. */
export async function isProxmox(host: HostSession): Promise<boolean> {
  const r = await host.exec(['sh', '-c', 'command -v pveversion >/dev/null 2>&1 && pveversion']);
  return r.code === 0 && r.stdout.startsWith('pve-manager/');
}

interface PveVm {
  vmid: number;
  name?: string;
  status: string;
  pid?: number;
  template?: number;
  lock?: string;
}

/** The node's VMs by VMID (qemu-server's vmlist), joined with their QEMU processes. */
export async function listProxmoxVms(host: HostSession): Promise<VmSummary[]> {
  const [vms, processes] = await Promise.all([pvesh<PveVm[]>(host, '/nodes/localhost/qemu'), listVms(host)]);
  return vms
    .sort((a, b) => a.vmid - b.vmid)
    .map((vm): VmSummary => {
      const proc = vm.pid ? processes.find((p) => p.pid === vm.pid) : undefined;
      return {
        id: String(vm.vmid),
        name: vm.name ?? `VM ${vm.vmid}`,
        pid: vm.pid ?? 0,
        qmpSockets: proc?.qmpSockets ?? [],
        guestAgentSocket: proc?.guestAgentSocket ?? null,
        argv: proc?.argv ?? [],
        proxmox: { vmid: vm.vmid, status: vm.status, template: vm.template === 1, lock: vm.lock ?? null },
      };
    });
}

/** The VM's configuration as it is now (not pending changes), as Proxmox stores it. */
export function proxmoxConfig(host: HostSession, vmid: number): Promise<Record<string, string | number>> {
  return pvesh(host, `/nodes/localhost/qemu/${vmid}/config`, ['--current', '1']);
}

/**
 * Takes one of qemu-server's locks: `backup` for a backup run, as vzdump does, or `create`
 * while a restore writes the disks, as qmrestore does (qemu-server refuses when any lock is
 * set). Returns its release, which removes the lock only if it is still ours.
 */
export async function lockVm(host: HostSession, vmid: number, lock: 'backup' | 'create'): Promise<() => Promise<void>> {
  const release = async () => {
    const config = await proxmoxConfig(host, vmid);
    if (config.lock !== lock) return;
    await host.execChecked(['qm', 'unlock', String(vmid)], { timeoutMs: 60_000 });
  };
  let r: ExecResult;
  try {
    r = await host.exec(['qm', 'set', String(vmid), '--lock', lock]);
  } catch (err) {
    if (outcomeUnknown(err)) throw new UncertainOutcomeError(`the ${lock} lock of VM ${vmid} may or may not be taken: ${(err as Error).message}`, release, { cause: err });
    throw err;
  }
  if (r.code !== 0) throw new Error(`cannot take the ${lock} lock of VM ${vmid}: ${(r.stderr || r.stdout).trim()}`);
  return release;
}

interface PveStorage {
  storage: string;
  type: string;
  content: string;
  active?: number;
  avail?: number;
}

/** Storages that can hold VM images (for fleecing), with their free space. */
export async function proxmoxImageStorages(host: HostSession): Promise<Array<{ storage: ProxmoxStorage; avail: number; active: boolean }>> {
  const list = await pvesh<PveStorage[]>(host, '/nodes/localhost/storage', ['--content', 'images']);
  const out: Array<{ storage: ProxmoxStorage; avail: number; active: boolean }> = [];
  for (const s of list) {
    try {
      out.push({ storage: new ProxmoxStorage(s.type, s.storage), avail: s.avail ?? 0, active: s.active === 1 });
    } catch {
      // a type Shear cannot allocate on (iscsi, ...): not offered
    }
  }
  return out;
}

/** A storage the user named by its Proxmox id. */
export async function proxmoxStorageById(host: HostSession, id: string): Promise<ProxmoxStorage> {
  const found = (await proxmoxImageStorages(host)).find((s) => s.storage.id === id);
  if (!found) throw new Error(`${host.label}: no Proxmox storage "${id}" that can hold VM images`);
  if (!found.active) throw new Error(`${host.label}: Proxmox storage "${id}" is not active`);
  return found.storage;
}

/** Storage types whose backup content lives in a folder Shear can write archives into. */
const FOLDER_TYPES = new Set(['dir', 'nfs', 'cifs', 'btrfs', 'glusterfs', 'cephfs']);

/**
 * A Proxmox storage with `backup` content as the archive target: Shear's archives
 * go to `<storage path>/shear-backups`, beside (not among) vzdump's own files in dump/.
 */
export async function proxmoxBackupFolder(host: HostSession, id: string): Promise<string> {
  const cfg = await pvesh<{ type: string; content?: string; path?: string }>(host, `/storage/${id}`);
  if (!(cfg.content ?? '').split(',').includes('backup')) throw new Error(`${host.label}: Proxmox storage "${id}" does not take backups (content: ${cfg.content ?? 'none'})`);
  if (!FOLDER_TYPES.has(cfg.type) || !cfg.path) throw new Error(`${host.label}: Proxmox storage "${id}" (${cfg.type}) has no folder Shear can write archives into`);
  return `${cfg.path.replace(/\/+$/, '')}/shear-backups`;
}
