/**
 * `dir:<path>`: image files (qcow2 or sparse raw) in one directory of the host.
 * Pure parts (argv builders, output parsers) are exported for unit tests; the class
 * only runs them through the HostSession.
 */
import type { ImageFormat } from '../../../shared/model.js';
import { byName, checkFormat, checkSize, commandFailed, matches, parseByteCount, runChecked } from './common.js';
import { ImageExistsError, StorageError, StorageSpecError } from './errors.js';
import { checkDirPath, checkFileName } from './names.js';
import type { Storage, StorageHost, StoredImage } from './storage.js';

export const DIR_FORMATS: readonly ImageFormat[] = ['qcow2', 'raw'];

/** Exit status of DIR_ALLOCATE when the name is taken. */
export const EXISTS_EXIT = 17;

/**
 * Creates `$1` as a `$2` image of `$3` bytes, never touching anything already there.
 * `qemu-img create` silently truncates an existing file, so the file is first created
 * with O_EXCL (the shell's noclobber `>`), which is atomic: of two racing creators one
 * gets EEXIST. A symlink counts as taken even when dangling (we must not create its
 * target). umask 077: the image will hold copies of guest data. If qemu-img fails, the
 * empty file we made is removed again. On success, prints `qemu-img info` as JSON so the
 * caller can check the real virtual size in the same round trip.
 */
export const DIR_ALLOCATE = [
  'umask 077',
  'f=$1',
  `if [ -e "$f" ] || [ -L "$f" ]; then exit ${EXISTS_EXIT}; fi`,
  'set -C',
  'if ! true > "$f"; then',
  `  if [ -e "$f" ] || [ -L "$f" ]; then exit ${EXISTS_EXIT}; fi`,
  '  exit 1',
  'fi',
  'set +C',
  // qcow2 with its metadata written now (as Proxmox VE's default for qcow2): no cluster allocation,
  // and no metadata flush, inside a guest write's copy-before-write later.
  'o=; [ "$2" = qcow2 ] && o=preallocation=metadata',
  'qemu-img create -q -f "$2" ${o:+-o "$o"} "$f" "$3" || { rc=$?; rm -f -- "$f"; exit "$rc"; }',
  'qemu-img info -f "$2" --output=json "$f" || { rc=$?; rm -f -- "$f"; exit "$rc"; }',
].join('\n');

export function dirAllocateArgv(path: string, format: ImageFormat, sizeBytes: number): string[] {
  return ['sh', '-c', DIR_ALLOCATE, 'shear-allocate', path, format, String(sizeBytes)];
}

export function dirFreeArgv(path: string): string[] {
  return ['rm', '-f', '--', path];
}

/** GNU df; LC_ALL=C keeps the header and number plain. */
export function dirFreeBytesArgv(dir: string): string[] {
  return ['env', 'LC_ALL=C', 'df', '-B1', '--output=avail', '--', dir];
}

/**
 * Regular files directly in `dir` (GNU find), one NUL-terminated record each:
 * `<size>\t<mtime seconds.fraction>\t<name>`. The name comes last and records end in NUL,
 * so a tab or newline inside a name cannot shift the fields. `-H` follows `dir` itself
 * when it is a symlink (e.g. /var/lib/vz -> /data/vz), nothing below it.
 */
export function dirListArgv(dir: string): string[] {
  return ['find', '-H', dir, '-mindepth', '1', '-maxdepth', '1', '-type', 'f', '-printf', '%s\\t%T@\\t%f\\0'];
}

/** `df -B1 --output=avail` prints a header line (`Avail`) and one number. */
export function parseDfAvail(stdout: string): number {
  const lines = stdout.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  if (lines.length !== 2 || !/^avail$/i.test(lines[0] as string)) {
    throw new StorageError(`df: unexpected output ${JSON.stringify(stdout.slice(0, 200))}`);
  }
  return parseByteCount(lines[1] as string, 'df');
}

export interface FileEntry {
  name: string;
  sizeBytes: number;
  mtimeMs: number;
}

/** Records of {@link dirListArgv}. */
export function parseFindListing(stdout: string): FileEntry[] {
  if (stdout === '') return [];
  if (!stdout.endsWith('\0')) throw new StorageError(`find: output does not end with a NUL record terminator`);
  return stdout
    .slice(0, -1)
    .split('\0')
    .map((record) => {
      const m = /^(\d+)\t(\d+(?:\.\d+)?)\t([^]+)$/.exec(record);
      if (!m) throw new StorageError(`find: unexpected record ${JSON.stringify(record.slice(0, 200))}`);
      return { sizeBytes: parseByteCount(m[1] as string, 'find'), mtimeMs: Math.round(Number(m[2]) * 1000), name: m[3] as string };
    });
}

/** `virtual-size` and `format` from `qemu-img info --output=json`. */
export function parseQemuImgInfo(stdout: string): { virtualSize: number; format: string } {
  let info: unknown;
  try {
    info = JSON.parse(stdout);
  } catch {
    throw new StorageError(`qemu-img info: not JSON: ${JSON.stringify(stdout.slice(0, 200))}`);
  }
  const o = info as { 'virtual-size'?: unknown; format?: unknown };
  if (typeof o['virtual-size'] !== 'number' || typeof o.format !== 'string') {
    throw new StorageError(`qemu-img info: no virtual-size/format in ${JSON.stringify(stdout.slice(0, 200))}`);
  }
  return { virtualSize: o['virtual-size'], format: o.format };
}

/** The format a dir image name announces by its extension, or null. */
export function formatOfFileName(name: string): ImageFormat | null {
  for (const f of DIR_FORMATS) if (name.endsWith(`.${f}`) && name.length > f.length + 1) return f;
  return null;
}

export class DirStorage implements Storage {
  readonly kind = 'dir' as const;
  readonly formats = DIR_FORMATS;
  readonly pathBased = true;
  readonly thin = true;
  readonly spec: string;
  readonly dir: string;

  constructor(path: string) {
    this.dir = checkDirPath(path);
    this.spec = `dir:${this.dir}`;
  }

  imagePath(name: string): string {
    checkFileName(name);
    return this.dir === '/' ? `/${name}` : `${this.dir}/${name}`;
  }

  async freeBytes(host: StorageHost): Promise<number> {
    const r = await runChecked(host, `${this.spec}: cannot measure free space`, dirFreeBytesArgv(this.dir));
    return parseDfAvail(r.stdout);
  }

  async allocate(host: StorageHost, name: string, sizeBytes: number, format: ImageFormat): Promise<StoredImage> {
    checkFormat(format, this.formats, this.spec);
    checkSize(sizeBytes);
    const path = this.imagePath(name);
    if (formatOfFileName(name) !== format) {
      throw new StorageSpecError(`${this.spec}: image name "${name}" must end in ".${format}" for a ${format} image`);
    }
    const argv = dirAllocateArgv(path, format, sizeBytes);
    const r = await host.exec(argv);
    if (r.code === EXISTS_EXIT) throw new ImageExistsError(this.spec, name, host.label);
    if (r.code !== 0) throw commandFailed(host, `${this.spec}: cannot create ${path}`, argv, r);
    let virtualSize: number;
    try {
      const info = parseQemuImgInfo(r.stdout);
      if (info.format !== format) throw new StorageError(`qemu-img reports format ${info.format}, not ${format}`);
      if (info.virtualSize < sizeBytes) throw new StorageError(`virtual size ${info.virtualSize} is smaller than the ${sizeBytes} bytes asked for`);
      virtualSize = info.virtualSize;
    } catch (err) {
      await this.free(host, name).catch(() => undefined);
      throw new StorageError(`${host.label}: ${path}: ${(err as Error).message}; the image was removed again`, { cause: err });
    }
    return { name, path, format, sizeBytes: virtualSize, blockDevice: false };
  }

  async free(host: StorageHost, name: string): Promise<void> {
    await runChecked(host, `${this.spec}: cannot remove ${name}`, dirFreeArgv(this.imagePath(name)));
  }

  async list(host: StorageHost, pattern: RegExp): Promise<StoredImage[]> {
    const r = await runChecked(host, `${this.spec}: cannot list images`, dirListArgv(this.dir));
    const images: StoredImage[] = [];
    for (const e of parseFindListing(r.stdout)) {
      if (!matches(pattern, e.name)) continue;
      const format = formatOfFileName(e.name);
      // Only names we could have made and can free: known extension, valid, decodable.
      if (!format || e.name.includes('\uFFFD') || !isValidFileName(e.name)) continue;
      images.push({ name: e.name, path: this.imagePath(e.name), format, sizeBytes: e.sizeBytes, blockDevice: false, createdMs: e.mtimeMs });
    }
    return images.sort(byName);
  }
}

function isValidFileName(name: string): boolean {
  try {
    checkFileName(name);
    return true;
  } catch {
    return false;
  }
}
