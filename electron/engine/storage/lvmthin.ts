/**
 * `lvmthin:<vg>/<pool>`: raw thin volumes in an LVM thin pool, used as block devices
 * `/dev/<vg>/<name>`.
 *
 * The LVM calls follow Proxmox VE's storage plugins (proxmox/pve-storage,
 * src/PVE/Storage/LvmThinPlugin.pm and LVMPlugin.pm):
 * - alloc_image: `lvcreate -aly -V <size>k --name NAME --thinpool VG/POOL`; the size is
 *   given in KiB (LVM refuses a byte count that is not a multiple of 512, and rounds up to
 *   the extent size anyway, so we read the real size back afterwards);
 * - free_image: `lvremove -f VG/NAME`, only when the LV is listed;
 * - list_images: thin volumes (`lv_attr` type `V`) whose `pool_lv` is the storage's pool;
 * - status: the pool's free space is `lv_size - data_percent * lv_size / 100`
 *   (LVMPlugin.pm lvm_list_volumes, `used`), an empty data_percent counting as 0;
 * - `--units b --nosuffix` and `--config report/time_format="%s"` for numbers and epochs.
 * Commands run with LC_ALL=C so numbers and messages do not depend on the host's locale.
 */
import type { ImageFormat } from '../../../shared/model.js';
import { byName, checkFormat, checkSize, commandFailed, KiB, matches, parseByteCount, runChecked, waitForBlockDeviceArgv } from './common.js';
import { ImageExistsError, StorageError, StorageSpecError } from './errors.js';
import { checkLvName, checkVgName } from './names.js';
import type { Storage, StorageHost, StoredImage } from './storage.js';

export const LVMTHIN_FORMATS: readonly ImageFormat[] = ['raw'];

const LVM_ENV = ['env', 'LC_ALL=C'];

/** `-V` argument: whole KiB, rounded up (as Proxmox passes it). */
export function lvmVirtualSizeArg(sizeBytes: number): string {
  return `${Math.ceil(checkSize(sizeBytes) / KiB)}k`;
}

export function lvcreateArgv(vg: string, pool: string, name: string, sizeBytes: number): string[] {
  // -aly: active (locally, for shared VGs); -y: never wait on a prompt (stdin is closed).
  return [...LVM_ENV, 'lvcreate', '-aly', '-y', '-V', lvmVirtualSizeArg(sizeBytes), '--name', name, '--thinpool', `${vg}/${pool}`];
}

/** The LV's size in bytes, once its device node exists. */
export function lvSizeArgv(vg: string, name: string): string[] {
  return waitForBlockDeviceArgv(`/dev/${vg}/${name}`, [...LVM_ENV, 'lvs', '--noheadings', '--units', 'b', '--nosuffix', '-o', 'lv_size', `${vg}/${name}`]);
}

export function lvremoveArgv(vg: string, name: string): string[] {
  return [...LVM_ENV, 'lvremove', '-f', `${vg}/${name}`];
}

export function thinPoolStatusArgv(vg: string, pool: string): string[] {
  return [...LVM_ENV, 'lvs', '--noheadings', '--units', 'b', '--nosuffix', '--separator', '|', '-o', 'lv_size,data_percent,lv_attr', `${vg}/${pool}`];
}

/** Every LV of the VG: `name|size|epoch|pool|attr` (LV names cannot hold `|`). */
export function lvsListArgv(vg: string): string[] {
  return [
    ...LVM_ENV,
    'lvs',
    '--noheadings',
    '--units',
    'b',
    '--nosuffix',
    '--separator',
    '|',
    '--config',
    'report/time_format="%s"',
    '-o',
    'lv_name,lv_size,lv_time,pool_lv,lv_attr',
    vg,
  ];
}

export interface LvRow {
  name: string;
  sizeBytes: number;
  /** Creation time, or null when lvs printed none. */
  createdMs: number | null;
  /** Thin pool of a thin volume, '' for others. */
  pool: string;
  /** `lv_attr`, e.g. `Vwi-aotz--` (first letter: V thin volume, t thin pool, - linear). */
  attr: string;
}

/** `lv_time` as epoch seconds (time_format "%s") or lvs's default `2024-05-01 10:40:00 +0200`. */
export function parseLvTime(text: string): number | null {
  const t = text.trim();
  if (t === '') return null;
  if (/^\d+$/.test(t)) return Number(t) * 1000;
  const m = /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)$/.exec(t);
  if (!m) throw new StorageError(`lvs: unexpected lv_time ${JSON.stringify(t)}`);
  const [, y, mo, d, h, mi, s, sign, oh, om] = m as unknown as string[];
  const utc = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  const offsetMs = (Number(oh) * 60 + Number(om)) * 60_000 * (sign === '-' ? -1 : 1);
  return utc - offsetMs;
}

/** Output of {@link lvsListArgv}. */
export function parseLvsListing(stdout: string): LvRow[] {
  return stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .map((line) => {
      const f = line.split('|');
      if (f.length !== 5) throw new StorageError(`lvs: unexpected line ${JSON.stringify(line.slice(0, 200))}`);
      const [name, size, time, pool, attr] = f as [string, string, string, string, string];
      return { name, sizeBytes: parseByteCount(size, 'lvs lv_size'), createdMs: parseLvTime(time), pool, attr };
    });
}

/** Output of {@link lvSizeArgv}: one number. */
export function parseLvSize(stdout: string): number {
  return parseByteCount(stdout, 'lvs lv_size');
}

export interface ThinPoolStatus {
  sizeBytes: number;
  /** Percent of the pool's data space in use; null when lvs printed none (inactive pool). */
  dataPercent: number | null;
  attr: string;
}

/** Output of {@link thinPoolStatusArgv}: `size|percent|attr`. */
export function parseThinPoolStatus(stdout: string): ThinPoolStatus {
  const lines = stdout.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const f = lines.length === 1 ? (lines[0] as string).split('|') : [];
  if (f.length !== 3) throw new StorageError(`lvs: unexpected thin pool status ${JSON.stringify(stdout.slice(0, 200))}`);
  const [size, percent, attr] = f as [string, string, string];
  let dataPercent: number | null = null;
  if (percent !== '') {
    // Some locales print a decimal comma; LC_ALL=C should prevent it, accept it anyway.
    const p = Number(percent.replace(',', '.'));
    if (!Number.isFinite(p) || p < 0 || p > 100) throw new StorageError(`lvs: unexpected data_percent ${JSON.stringify(percent)}`);
    dataPercent = p;
  }
  return { sizeBytes: parseByteCount(size, 'lvs lv_size'), dataPercent, attr };
}

/** Free data space of a thin pool, as Proxmox computes it. */
export function thinPoolFreeBytes(status: ThinPoolStatus): number {
  const used = Math.floor(((status.dataPercent ?? 0) * status.sizeBytes) / 100);
  return Math.max(0, status.sizeBytes - used);
}

export class LvmThinStorage implements Storage {
  readonly kind = 'lvmthin' as const;
  readonly formats = LVMTHIN_FORMATS;
  readonly pathBased = false;
  readonly thin = true;
  readonly spec: string;

  constructor(
    readonly vg: string,
    readonly pool: string,
  ) {
    checkVgName(vg);
    checkLvName(pool, 'thin pool name');
    this.spec = `lvmthin:${vg}/${pool}`;
  }

  private checkName(name: string): string {
    checkLvName(name, 'image name');
    if (name === this.pool) throw new StorageSpecError(`${this.spec}: "${name}" is the thin pool itself, not an image`);
    return name;
  }

  imagePath(name: string): string {
    return `/dev/${this.vg}/${this.checkName(name)}`;
  }

  async freeBytes(host: StorageHost): Promise<number> {
    const r = await runChecked(host, `${this.spec}: cannot read the thin pool`, thinPoolStatusArgv(this.vg, this.pool));
    const status = parseThinPoolStatus(r.stdout);
    if (!status.attr.startsWith('t')) throw new StorageError(`${host.label}: ${this.vg}/${this.pool} is not a thin pool (lv_attr ${status.attr})`);
    return thinPoolFreeBytes(status);
  }

  private async rows(host: StorageHost): Promise<LvRow[]> {
    return parseLvsListing((await runChecked(host, `${this.spec}: cannot list logical volumes`, lvsListArgv(this.vg))).stdout);
  }

  async allocate(host: StorageHost, name: string, sizeBytes: number, format: ImageFormat): Promise<StoredImage> {
    checkFormat(format, this.formats, this.spec);
    checkSize(sizeBytes);
    const path = this.imagePath(name);
    const argv = lvcreateArgv(this.vg, this.pool, name, sizeBytes);
    const created = await host.exec(argv);
    if (created.code !== 0) {
      // lvcreate refuses a taken name by itself; tell that case apart without parsing its message.
      const taken = await this.rows(host).then(
        (rows) => rows.some((r) => r.name === name),
        () => false,
      );
      if (taken) throw new ImageExistsError(this.spec, name, host.label);
      throw commandFailed(host, `${this.spec}: cannot create ${name}`, argv, created);
    }
    try {
      const sized = await runChecked(host, `${this.spec}: ${name}`, lvSizeArgv(this.vg, name));
      const real = parseLvSize(sized.stdout);
      if (real < sizeBytes) throw new StorageError(`LV size ${real} is smaller than the ${sizeBytes} bytes asked for`);
      return { name, path, format: 'raw', sizeBytes: real, blockDevice: true };
    } catch (err) {
      await host.exec(lvremoveArgv(this.vg, name)).catch(() => undefined);
      throw new StorageError(`${host.label}: ${this.spec}: ${name} was created but is not usable (${(err as Error).message}); it was removed again`, { cause: err });
    }
  }

  async free(host: StorageHost, name: string): Promise<void> {
    this.checkName(name);
    const row = (await this.rows(host)).find((r) => r.name === name);
    if (!row) return;
    if (!row.attr.startsWith('V') || row.pool !== this.pool) {
      throw new StorageError(`${host.label}: ${this.vg}/${name} is not a thin volume of pool ${this.pool} (lv_attr ${row.attr}); refusing to remove it`);
    }
    const argv = lvremoveArgv(this.vg, name);
    const r = await host.exec(argv);
    if (r.code === 0) return;
    // Gone in the meantime (another cleanup)? Then it is done.
    const still = (await this.rows(host)).some((x) => x.name === name);
    if (still) throw commandFailed(host, `${this.spec}: cannot remove ${name}`, argv, r);
  }

  async list(host: StorageHost, pattern: RegExp): Promise<StoredImage[]> {
    const images: StoredImage[] = [];
    for (const row of await this.rows(host)) {
      if (!row.attr.startsWith('V') || row.pool !== this.pool || !matches(pattern, row.name)) continue;
      images.push({
        name: row.name,
        path: `/dev/${this.vg}/${row.name}`,
        format: 'raw',
        sizeBytes: row.sizeBytes,
        blockDevice: true,
        ...(row.createdMs !== null ? { createdMs: row.createdMs } : {}),
      });
    }
    return images.sort(byName);
  }
}
