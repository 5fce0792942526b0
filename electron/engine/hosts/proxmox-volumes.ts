import type { DiskRole } from '../../../shared/model.js';
import { runChecked } from '../storage/common.js';
import type { StorageHost } from '../storage/storage.js';

/**
 * A Proxmox VM's volumes as files or block devices Shear can read: which
 * volumes a config uses, where `pvesm path` puts them, their exact size, and
 * (for LVM) activating a volume Proxmox left inactive.
 */

/** Drive keys of a Proxmox config (qemu-server PVE/QemuServer/Drive.pm: ide0-3, sata0-5, scsi0-30, virtio0-15, efidisk0, tpmstate0). */
const DRIVE_KEY = /^(ide[0-3]|sata[0-5]|scsi(?:[0-9]|[12][0-9]|30)|virtio(?:[0-9]|1[0-5])|efidisk0|tpmstate0)$/;

export interface ConfigVolume {
  key: string;
  volid: string;
  role: DiskRole;
}

/** The volumes a config's drives use: no CD-ROMs, no `none`, no pass-through paths (pure). */
export function configVolumes(config: Record<string, string | number>): ConfigVolume[] {
  const out: ConfigVolume[] = [];
  for (const [key, raw] of Object.entries(config)) {
    if (!DRIVE_KEY.test(key)) continue;
    const value = String(raw);
    const opts = value.split(',');
    const volid = opts[0] ?? '';
    if (opts.includes('media=cdrom') || volid === 'none' || volid === 'cdrom' || volid.startsWith('/') || !volid.includes(':')) continue;
    out.push({ key, volid, role: key === 'efidisk0' ? 'efivars' : key === 'tpmstate0' ? 'tpmstate' : 'disk' });
  }
  return out.sort((a, b) => a.key.localeCompare(b.key, 'en', { numeric: true }));
}

/**
 * The size a config's drive line records (`local:100/vm-100-disk-0.qcow2,size=32G`): qemu-server
 * writes it in whole K, M, G or T (PVE::JSONSchema format 'disk-size'). 0 when absent. Pure.
 */
export function driveSizeBytes(value: string | number | undefined): number {
  const m = /(?:^|,)size=(\d+(?:\.\d+)?)([KMGT]?)(?:,|$)/.exec(String(value ?? ''));
  if (!m) return 0;
  const unit = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }[m[2] as '' | 'K' | 'M' | 'G' | 'T'];
  return Math.round(Number(m[1]) * unit);
}

/** The format Proxmox names the volume with, never a probe: a raw volume could look like anything. */
export function volumeFormat(volid: string): 'qcow2' | 'vmdk' | 'raw' {
  return /\.qcow2$/.test(volid) ? 'qcow2' : /\.vmdk$/.test(volid) ? 'vmdk' : 'raw';
}

/** `pvesm path` gave no local file or device (librbd, iSCSI, gluster URLs): nothing here can open it as a path. */
export class VolumeNotLocalError extends Error {
  constructor(
    readonly volid: string,
    readonly path: string,
  ) {
    super(`volume ${volid} is not a local file or device (${path})`);
  }
}

export interface OpenVolume {
  volid: string;
  path: string;
  format: 'qcow2' | 'vmdk' | 'raw';
  /** Virtual size: what the guest sees. */
  sizeBytes: number;
  blockDevice: boolean;
  /** Deactivates the volume again when Shear activated it; null when it was active already. */
  release: (() => Promise<void>) | null;
}

// Missing path → "missing"; else the kind and qemu-img's view (-U: swtpm or another reader may hold it).
const PROBE = 'if [ ! -e "$1" ]; then echo missing; exit 0; fi; if [ -b "$1" ]; then echo block; else echo file; fi; exec qemu-img info --output=json -U -f "$2" -- "$1"';

/** Storage types whose volumes are LVs that `lvchange` activates (pve-storage LVMPlugin, LvmThinPlugin). */
const LVM_TYPES = new Set(['lvm', 'lvmthin']);

async function probe(host: StorageHost, path: string, format: string): Promise<{ kind: 'missing' } | { kind: 'block' | 'file'; sizeBytes: number }> {
  const { stdout } = await runChecked(host, 'probing a volume', ['sh', '-c', PROBE, 'shear-volume', path, format]);
  const [first, ...rest] = stdout.split('\n');
  if (first === 'missing') return { kind: 'missing' };
  const info = JSON.parse(rest.join('\n')) as { 'virtual-size': number };
  return { kind: first === 'block' ? 'block' : 'file', sizeBytes: info['virtual-size'] };
}

/**
 * Resolves a volume through `pvesm path` and measures it. A stopped VM's LVM
 * volume may be inactive (no /dev node; templates' thin volumes also carry the
 * activation-skip flag), so it is activated as pve-storage does (`lvchange -ay
 * -K`) and deactivated again by the returned `release`.
 */
export async function openVolume(host: StorageHost, volid: string): Promise<OpenVolume> {
  const path = (await runChecked(host, 'pvesm path', ['pvesm', 'path', volid])).stdout.trim();
  if (!path.startsWith('/')) throw new VolumeNotLocalError(volid, path);
  const format = volumeFormat(volid);
  let seen = await probe(host, path, format);
  let release: OpenVolume['release'] = null;
  if (seen.kind === 'missing') {
    const sid = volid.slice(0, volid.indexOf(':'));
    const volname = volid.slice(volid.indexOf(':') + 1);
    const cfg = JSON.parse((await runChecked(host, 'reading the storage config', ['pvesh', 'get', `/storage/${sid}`, '--output-format', 'json'])).stdout) as { type: string; vgname?: string };
    if (!LVM_TYPES.has(cfg.type) || !cfg.vgname) {
      throw new Error(`volume ${volid} is not available at ${path} (storage ${sid}, type ${cfg.type}); activate it on the host (for example start and stop the VM) and try again`);
    }
    const lv = `${cfg.vgname}/${volname}`;
    const r = await host.exec(['lvchange', '-ay', '-K', lv]);
    if (r.code !== 0) throw new Error(`volume ${volid} is inactive and activating ${lv} failed: ${(r.stderr || r.stdout).trim()}`);
    release = async () => {
      await runChecked(host, `deactivating ${lv}`, ['lvchange', '-an', lv]);
    };
    seen = await probe(host, path, format);
    if (seen.kind === 'missing') {
      await release().catch(() => undefined);
      throw new Error(`volume ${volid}: ${lv} was activated but ${path} did not appear`);
    }
  }
  return { volid, path, format, sizeBytes: seen.sizeBytes, blockDevice: seen.kind === 'block', release };
}
