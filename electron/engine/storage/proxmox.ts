import type { ImageFormat } from '../../../shared/model.js';
import { ImageExistsError, StorageError, StorageSpecError } from './errors.js';
import type { Storage, StorageHost, StoredImage } from './storage.js';
import { STORAGE_COMMAND_TIMEOUT_MS } from './common.js';

/**
 * A Proxmox VE storage, driven only through Proxmox's own tools (`pvesm`,
 * `pvesh`), so Proxmox stays the one that knows where and how volumes live.
 * Spec: `pve:<type>:<storage id>` (the type is recorded so a journal can be read
 * back without asking the host).
 *
 * Formats and path-based types follow pve-storage's plugins (`plugindata`
 * content/format tables in src/PVE/Storage/{Dir,NFS,CIFS,GlusterFS,BTRFS,
 * LvmThin,LVM,ZFSPool,RBD}Plugin.pm): file storages take qcow2, block storages raw only.
 */
const TYPES: Record<string, { formats: ImageFormat[]; pathBased: boolean; thin: boolean }> = {
  dir: { formats: ['qcow2', 'raw'], pathBased: true, thin: true },
  nfs: { formats: ['qcow2', 'raw'], pathBased: true, thin: true },
  cifs: { formats: ['qcow2', 'raw'], pathBased: true, thin: true },
  glusterfs: { formats: ['qcow2', 'raw'], pathBased: true, thin: true },
  btrfs: { formats: ['raw'], pathBased: true, thin: true },
  lvmthin: { formats: ['raw'], pathBased: false, thin: true },
  // zvols are thick unless the storage sets `sparse`; assume thick, the safe side.
  zfspool: { formats: ['raw'], pathBased: false, thin: false },
  rbd: { formats: ['raw'], pathBased: false, thin: true },
  lvm: { formats: ['raw'], pathBased: false, thin: false },
};

export const PROXMOX_STORAGE_TYPES = Object.keys(TYPES);

const ID_RE = /^[A-Za-z][A-Za-z0-9\-_.]*$/;
const ALLOCATE_TIMEOUT_MS = 15 * 60_000;
const NAME_RE = /^vm-(\d+)-[A-Za-z0-9_.+-]+$/;

interface ContentEntry {
  volid: string;
  format: string;
  size: number;
  vmid?: number;
  ctime?: number;
}

export class ProxmoxStorage implements Storage {
  readonly kind = 'proxmox' as const;
  readonly spec: string;
  readonly formats: readonly ImageFormat[];
  readonly pathBased: boolean;
  readonly thin: boolean;

  constructor(
    readonly type: string,
    readonly id: string,
  ) {
    const t = TYPES[type];
    if (!t) throw new StorageSpecError(`Proxmox storage type "${type}" cannot hold VM images for Shear (known: ${PROXMOX_STORAGE_TYPES.join(', ')})`);
    if (!ID_RE.test(id)) throw new StorageSpecError(`"${id}" is not a Proxmox storage id`);
    this.spec = `pve:${type}:${id}`;
    this.formats = t.formats;
    this.pathBased = t.pathBased;
    this.thin = t.thin;
  }

  private vmidOf(name: string): string {
    const m = NAME_RE.exec(name.replace(/\.(qcow2|raw)$/, ''));
    if (!m?.[1]) throw new StorageSpecError(`${this.spec}: "${name}" is not a Proxmox VM volume name (vm-<vmid>-...)`);
    return m[1];
  }

  /** The volume id, which is what Proxmox calls an image's location. */
  volid(name: string): string {
    const vmid = this.vmidOf(name);
    return this.pathBased ? `${this.id}:${vmid}/${name}` : `${this.id}:${name}`;
  }

  imagePath(name: string): string {
    return this.volid(name);
  }

  private async run(host: StorageHost, step: string, argv: string[], timeoutMs = STORAGE_COMMAND_TIMEOUT_MS): Promise<string> {
    const r = await host.exec(argv, { timeoutMs });
    if (r.code !== 0) throw new StorageError(`${host.label}: ${this.spec}: ${step} failed: ${(r.stderr || r.stdout).trim()}`);
    return r.stdout;
  }

  async freeBytes(host: StorageHost): Promise<number> {
    const list = JSON.parse(await this.run(host, 'pvesh storage status', ['pvesh', 'get', '/nodes/localhost/storage', '--output-format', 'json'])) as Array<{ storage: string; avail?: number; active?: number }>;
    const entry = list.find((s) => s.storage === this.id);
    if (!entry) throw new StorageError(`${host.label}: Proxmox storage ${this.id} does not exist`);
    if (!entry.active) throw new StorageError(`${host.label}: Proxmox storage ${this.id} is not active`);
    return entry.avail ?? 0;
  }

  async allocate(host: StorageHost, name: string, sizeBytes: number, format: ImageFormat): Promise<StoredImage> {
    if (!this.formats.includes(format)) throw new StorageSpecError(`${this.spec} cannot hold ${format} images`);
    const vmid = this.vmidOf(name);
    const volid = this.volid(name);
    if ((await this.contents(host)).some((c) => c.volid === volid)) throw new ImageExistsError(this.spec, volid, host.label);
    // pvesm alloc takes KiB; raw is attached with an explicit size, qcow2 is cut back to the exact size below.
    const kib = Math.ceil(sizeBytes / 1024);
    // Creation writes metadata up front on file storages (qcow2 preallocation=metadata): minutes for a huge disk on NFS.
    const out = await this.run(host, 'pvesm alloc', ['pvesm', 'alloc', this.id, vmid, name, String(kib), '--format', format], ALLOCATE_TIMEOUT_MS);
    const created = /successfully created '([^']+)'/.exec(out)?.[1];
    if (created !== volid) throw new StorageError(`${host.label}: pvesm alloc created ${created ?? 'nothing'}, expected ${volid}`);
    try {
      const path = (await this.run(host, 'pvesm path', ['pvesm', 'path', volid])).trim();
      if (!path.startsWith('/')) {
        // librbd (RBD without krbd) or libgfapi (GlusterFS): QEMU would need the storage's own client driver.
        throw new StorageError(`${host.label}: ${this.spec}: Proxmox reaches this storage's volumes through a userspace client (${path.split(':')[0] ?? path}:), not a host path, so Shear cannot attach a fleecing image there; use a storage with host paths (dir, LVM-thin, ZFS, or RBD with krbd)`);
      }
      if (format === 'qcow2' && kib * 1024 !== sizeBytes) {
        await this.run(host, 'qemu-img resize', ['qemu-img', 'resize', '-q', '-f', 'qcow2', '--shrink', path, String(sizeBytes)], ALLOCATE_TIMEOUT_MS);
      }
      const blockDevice = (await host.exec(['test', '-b', path])).code === 0;
      return { name, path, format, sizeBytes: format === 'raw' ? kib * 1024 : sizeBytes, blockDevice };
    } catch (err) {
      await this.free(host, name).catch(() => undefined);
      throw err;
    }
  }

  async free(host: StorageHost, name: string): Promise<void> {
    const volid = this.volid(name);
    if (!(await this.contents(host)).some((c) => c.volid === volid)) return;
    await this.run(host, 'pvesm free', ['pvesm', 'free', volid]);
  }

  private async contents(host: StorageHost): Promise<ContentEntry[]> {
    return JSON.parse(await this.run(host, 'list content', ['pvesh', 'get', `/nodes/localhost/storage/${this.id}/content`, '--output-format', 'json'])) as ContentEntry[];
  }

  async list(host: StorageHost, pattern: RegExp): Promise<StoredImage[]> {
    const out: StoredImage[] = [];
    for (const c of await this.contents(host)) {
      const name = c.volid.slice(c.volid.indexOf(':') + 1).split('/').pop() ?? '';
      if (!pattern.test(name)) continue;
      const path = (await this.run(host, 'pvesm path', ['pvesm', 'path', c.volid])).trim();
      out.push({ name, path, format: c.format === 'qcow2' ? 'qcow2' : 'raw', sizeBytes: c.size, blockDevice: !this.pathBased, ...(c.ctime ? { createdMs: c.ctime * 1000 } : {}) });
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }
}
