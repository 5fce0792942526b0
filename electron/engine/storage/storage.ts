/**
 * Where fleecing images live on a plain host. The user names a storage as
 * `dir:<path>`, `lvmthin:<vg>/<pool>` or `zfs:<pool/dataset>`; `parseStorageSpec`
 * turns that into a Storage, which allocates, lists and frees images on a host
 * through its HostSession (argument arrays only).
 */
import type { ImageFormat } from '../../../shared/model.js';
import type { HostSession } from '../hosts/host-session.js';
import { DirStorage } from './dir.js';
import { StorageSpecError } from './errors.js';
import { LvmThinStorage } from './lvmthin.js';
import { ProxmoxStorage } from './proxmox.js';
import { ZfsStorage } from './zfs.js';

export { DirStorage } from './dir.js';
export { ImageExistsError, StorageError, StorageSpecError } from './errors.js';
export { LvmThinStorage } from './lvmthin.js';
export { ZfsStorage } from './zfs.js';
export { ProxmoxStorage } from './proxmox.js';

export interface StoredImage {
  /** e.g. 'vm-web-fleece-0.qcow2' (dir) or 'vm-web-fleece-0' (lvmthin/zfs). */
  name: string;
  /** File path or block device path (/dev/vg/name, /dev/zvol/pool/ds/name). */
  path: string;
  format: ImageFormat;
  /**
   * From `allocate`: the usable size, never less than asked (dir: qemu-img's virtual size;
   * LV/zvol: rounded up to extents / 1 MiB). From `list`: dir files' apparent file size,
   * the LV size or volsize for block devices.
   */
  sizeBytes: number;
  blockDevice: boolean;
  /** mtime (dir) / lv_time / zfs creation, for "age" in leftovers. */
  createdMs?: number;
}

export type StorageKind = 'dir' | 'lvmthin' | 'zfs' | 'proxmox';

/**
 * What a storage needs of a host: argument-array commands and a label/log. Any HostSession
 * is one; tests can script one without the rest of the session (QMP, holds, reconnects).
 */
export type StorageHost = Pick<HostSession, 'label' | 'log' | 'exec'>;

export interface Storage {
  /** Normalized, e.g. 'dir:/abs/path'. */
  readonly spec: string;
  readonly kind: StorageKind;
  /** Supported formats, preferred first: dir ['qcow2','raw']; lvmthin/zfs ['raw']. */
  readonly formats: readonly ImageFormat[];
  /** True for dir: image names carry '.<format>'. */
  readonly pathBased: boolean;
  /** Allocation does not reserve the full size (sparse files, thin LVs, sparse zvols). */
  readonly thin: boolean;
  /** Pure; throws StorageSpecError for a name this storage cannot hold. */
  imagePath(name: string): string;
  freeBytes(host: StorageHost): Promise<number>;
  /** Creates exactly this image, refusing (ImageExistsError) if something with that name exists already. */
  allocate(host: StorageHost, name: string, sizeBytes: number, format: ImageFormat): Promise<StoredImage>;
  /** Removes it; removing something already gone is not an error (cleanup must be idempotent). */
  free(host: StorageHost, name: string): Promise<void>;
  /** Images whose NAME matches (e.g. /^vm-.+-fleece-\d+(\.(qcow2|raw))?$/), with size and age, sorted by name. */
  list(host: StorageHost, pattern: RegExp): Promise<StoredImage[]>;
}

const KINDS: readonly string[] = ['dir', 'lvmthin', 'zfs', 'pve'];

/** Parses `dir:<abs path>`, `lvmthin:<vg>/<pool>` or `zfs:<pool/dataset>`; StorageSpecError says what is wrong. */
export function parseStorageSpec(spec: string): Storage {
  const colon = spec.indexOf(':');
  if (colon < 0) {
    throw new StorageSpecError(`storage ${JSON.stringify(spec)}: expected <kind>:<location>, one of dir:/path, lvmthin:vg/pool, zfs:pool/dataset`);
  }
  const kind = spec.slice(0, colon);
  const location = spec.slice(colon + 1);
  try {
    return storageOf(spec, kind, location);
  } catch (err) {
    if (err instanceof StorageSpecError && !err.message.startsWith('storage ')) {
      throw new StorageSpecError(`storage ${JSON.stringify(spec)}: ${err.message}`);
    }
    throw err;
  }
}

function storageOf(spec: string, kind: string, location: string): Storage {
  switch (kind) {
    case 'dir':
      return new DirStorage(location);
    case 'lvmthin': {
      const parts = location.split('/');
      if (parts.length !== 2 || parts[0] === '' || parts[1] === '') {
        throw new StorageSpecError(`storage ${JSON.stringify(spec)}: expected lvmthin:<vg>/<thinpool>, both non-empty`);
      }
      return new LvmThinStorage(parts[0] as string, parts[1] as string);
    }
    case 'pve': {
      // pve:<type>:<storage id>, a Proxmox storage used through pvesm.
      const sep = location.indexOf(':');
      if (sep < 0) throw new StorageSpecError(`storage ${JSON.stringify(spec)}: expected pve:<type>:<storage id>`);
      return new ProxmoxStorage(location.slice(0, sep), location.slice(sep + 1));
    }
    case 'zfs':
      if (location.startsWith('/') || location.endsWith('/')) {
        throw new StorageSpecError(`storage ${JSON.stringify(spec)}: expected zfs:<pool>/<dataset>, without leading or trailing "/"`);
      }
      return new ZfsStorage(location);
    default:
      throw new StorageSpecError(`storage ${JSON.stringify(spec)}: unknown kind "${kind}" (known: ${KINDS.join(', ')})`);
  }
}

/** The image name a storage wants for `base` in `format`: `base.qcow2` on dir, `base` on block storages. */
export function imageName(storage: Pick<Storage, 'pathBased'>, base: string, format: ImageFormat): string {
  return storage.pathBased ? `${base}.${format}` : base;
}
