/**
 * `zfs:<pool/dataset>`: sparse zvols below a dataset, used as block devices
 * `/dev/zvol/<pool/dataset>/<name>`.
 *
 * The ZFS calls follow Proxmox VE (proxmox/pve-storage, src/PVE/Storage/ZFSPoolPlugin.pm):
 * - zfs_create_zvol: `zfs create [-s] -V <size>`, the size padded to a multiple of 1 MiB
 *   ("workaround until https://github.com/zfsonlinux/zfs/issues/8541 is solved"; 1 MiB is
 *   also a multiple of every usual volblocksize, which volsize must be);
 * - zfs_wait_for_zvol_link: wait until the `/dev/zvol/...` link is a block device (udev);
 * - zfs_delete_zvol: `zfs destroy -r`, retried while "dataset is busy" (6 tries, 1 s),
 *   "dataset does not exist" counting as done;
 * - zfs_get_pool_stats: `zfs get -o value -Hp available <dataset>`.
 * Commands run with LC_ALL=C so messages do not depend on the host's locale.
 */
import type { ImageFormat } from '../../../shared/model.js';
import { byName, checkFormat, checkSize, commandFailed, matches, MiB, parseByteCount, roundUp, runChecked, waitForBlockDeviceArgv } from './common.js';
import { ImageExistsError, StorageError } from './errors.js';
import { checkZfsDataset, checkZvolName } from './names.js';
import type { Storage, StorageHost, StoredImage } from './storage.js';

export const ZFS_FORMATS: readonly ImageFormat[] = ['raw'];

const ZFS = ['env', 'LC_ALL=C', 'zfs'];

/** The volsize we ask for: at least `sizeBytes`, a multiple of 1 MiB. */
export function zvolSizeFor(sizeBytes: number): number {
  return roundUp(checkSize(sizeBytes), MiB);
}

export function zfsCreateArgv(dataset: string, name: string, sizeBytes: number): string[] {
  return [...ZFS, 'create', '-s', '-V', String(zvolSizeFor(sizeBytes)), `${dataset}/${name}`];
}

/** The zvol's volsize in bytes, once its /dev/zvol link exists. */
export function zfsVolsizeArgv(dataset: string, name: string): string[] {
  return waitForBlockDeviceArgv(`/dev/zvol/${dataset}/${name}`, [...ZFS, 'get', '-Hp', '-o', 'value', 'volsize', `${dataset}/${name}`]);
}

export function zfsDestroyArgv(dataset: string, name: string): string[] {
  return [...ZFS, 'destroy', '-r', `${dataset}/${name}`];
}

export function zfsAvailableArgv(dataset: string): string[] {
  return [...ZFS, 'get', '-Hp', '-o', 'value', 'available', dataset];
}

/** The zvols directly below `dataset`: `name\tvolsize\tcreation` (bytes, epoch seconds). */
export function zfsListArgv(dataset: string): string[] {
  return [...ZFS, 'list', '-H', '-p', '-t', 'volume', '-o', 'name,volsize,creation', '-d', '1', dataset];
}

export interface ZvolRow {
  /** Name below the dataset (`vm-web-fleece-0`). */
  name: string;
  sizeBytes: number;
  createdMs: number;
}

/** Output of {@link zfsListArgv}; rows that are not direct children of `dataset` are dropped. */
export function parseZfsVolumeListing(stdout: string, dataset: string): ZvolRow[] {
  const rows: ZvolRow[] = [];
  for (const line of stdout.split('\n')) {
    if (line.trim() === '') continue;
    const f = line.split('\t');
    if (f.length !== 3) throw new StorageError(`zfs list: unexpected line ${JSON.stringify(line.slice(0, 200))}`);
    const [full, size, creation] = f as [string, string, string];
    if (!full.startsWith(`${dataset}/`)) continue;
    const name = full.slice(dataset.length + 1);
    if (name === '' || name.includes('/')) continue;
    rows.push({ name, sizeBytes: parseByteCount(size, 'zfs list volsize'), createdMs: parseByteCount(creation, 'zfs list creation') * 1000 });
  }
  return rows;
}

/** Output of `zfs get -Hp -o value <prop>`: one number. */
export function parseZfsNumber(stdout: string, property: string): number {
  return parseByteCount(stdout, `zfs get ${property}`);
}

export interface ZfsStorageOptions {
  /** Pause between `zfs destroy` attempts while the zvol is busy (default 1 s, as Proxmox). */
  busyRetryDelayMs?: number;
  busyRetries?: number;
}

export class ZfsStorage implements Storage {
  readonly kind = 'zfs' as const;
  readonly formats = ZFS_FORMATS;
  readonly pathBased = false;
  readonly thin = true;
  readonly spec: string;
  private readonly busyRetryDelayMs: number;
  private readonly busyRetries: number;

  constructor(
    readonly dataset: string,
    options: ZfsStorageOptions = {},
  ) {
    checkZfsDataset(dataset);
    this.spec = `zfs:${dataset}`;
    this.busyRetryDelayMs = options.busyRetryDelayMs ?? 1_000;
    this.busyRetries = options.busyRetries ?? 6;
  }

  imagePath(name: string): string {
    return `/dev/zvol/${this.dataset}/${checkZvolName(name, this.dataset)}`;
  }

  async freeBytes(host: StorageHost): Promise<number> {
    const r = await runChecked(host, `${this.spec}: cannot read free space`, zfsAvailableArgv(this.dataset));
    return parseZfsNumber(r.stdout, 'available');
  }

  private async rows(host: StorageHost): Promise<ZvolRow[]> {
    return parseZfsVolumeListing((await runChecked(host, `${this.spec}: cannot list zvols`, zfsListArgv(this.dataset))).stdout, this.dataset);
  }

  private async exists(host: StorageHost, name: string): Promise<boolean> {
    return (await this.rows(host)).some((r) => r.name === name);
  }

  async allocate(host: StorageHost, name: string, sizeBytes: number, format: ImageFormat): Promise<StoredImage> {
    checkFormat(format, this.formats, this.spec);
    checkSize(sizeBytes);
    const path = this.imagePath(name);
    const argv = zfsCreateArgv(this.dataset, name, sizeBytes);
    const created = await host.exec(argv);
    if (created.code !== 0) {
      // `zfs create` refuses a taken name by itself ("dataset already exists", also for a filesystem).
      const taken = /dataset already exists/.test(created.stderr) || (await this.exists(host, name).catch(() => false));
      if (taken) throw new ImageExistsError(this.spec, name, host.label);
      throw commandFailed(host, `${this.spec}: cannot create ${name}`, argv, created);
    }
    try {
      const sized = await runChecked(host, `${this.spec}: ${name}`, zfsVolsizeArgv(this.dataset, name));
      const real = parseZfsNumber(sized.stdout, 'volsize');
      if (real < sizeBytes) throw new StorageError(`volsize ${real} is smaller than the ${sizeBytes} bytes asked for`);
      return { name, path, format: 'raw', sizeBytes: real, blockDevice: true };
    } catch (err) {
      await host.exec(zfsDestroyArgv(this.dataset, name)).catch(() => undefined);
      throw new StorageError(`${host.label}: ${this.spec}: ${name} was created but is not usable (${(err as Error).message}); it was destroyed again`, { cause: err });
    }
  }

  /** Destroys the zvol (with any snapshots a snapshot tool took of it); a name that is no zvol here counts as gone. */
  async free(host: StorageHost, name: string): Promise<void> {
    checkZvolName(name, this.dataset);
    if (!(await this.exists(host, name))) return;
    const argv = zfsDestroyArgv(this.dataset, name);
    for (let attempt = 1; ; attempt++) {
      const r = await host.exec(argv);
      if (r.code === 0) return;
      if (!(await this.exists(host, name))) return;
      if (!/dataset is busy/.test(r.stderr) || attempt >= this.busyRetries) {
        throw commandFailed(host, `${this.spec}: cannot destroy ${name}`, argv, r);
      }
      host.log('debug', `${host.label}: ${this.dataset}/${name} is busy; destroying again (${attempt}/${this.busyRetries})`);
      await new Promise((resolve) => setTimeout(resolve, this.busyRetryDelayMs));
    }
  }

  async list(host: StorageHost, pattern: RegExp): Promise<StoredImage[]> {
    const images: StoredImage[] = [];
    for (const row of await this.rows(host)) {
      if (!matches(pattern, row.name) || !isValidZvolName(row.name, this.dataset)) continue;
      images.push({ name: row.name, path: `/dev/zvol/${this.dataset}/${row.name}`, format: 'raw', sizeBytes: row.sizeBytes, blockDevice: true, createdMs: row.createdMs });
    }
    return images.sort(byName);
  }
}

/** Only names `free` accepts are listed (a zvol with a space in its name is not one of ours). */
function isValidZvolName(name: string, dataset: string): boolean {
  try {
    checkZvolName(name, dataset);
    return true;
  } catch {
    return false;
  }
}
