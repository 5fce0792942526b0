/** Small pieces every storage kind shares: size checks, number parsing, the block-device wait. */
import type { ImageFormat } from '../../../shared/model.js';
import type { StorageHost } from './storage.js';
import { RemoteCommandError, type ExecResult } from '../ssh/exec.js';
import { StorageError, StorageSpecError } from './errors.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;

export function checkSize(sizeBytes: number): number {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0) {
    throw new StorageSpecError(`image size must be a positive whole number of bytes, not ${String(sizeBytes)}`);
  }
  return sizeBytes;
}

export function roundUp(value: number, multiple: number): number {
  return Math.ceil(value / multiple) * multiple;
}

export function checkFormat(format: ImageFormat, supported: readonly ImageFormat[], spec: string): ImageFormat {
  if (!supported.includes(format)) {
    throw new StorageSpecError(`${spec}: format "${String(format)}" is not supported here (supported: ${supported.join(', ')})`);
  }
  return format;
}

/** A non-negative integer as a tool printed it (surrounding blanks allowed), or a StorageError naming the tool. */
export function parseByteCount(text: string, what: string): number {
  const t = text.trim();
  if (!/^\d+$/.test(t)) throw new StorageError(`${what}: expected a number of bytes, got ${JSON.stringify(text.slice(0, 200))}`);
  const n = Number(t);
  if (!Number.isSafeInteger(n)) throw new StorageError(`${what}: ${t} is too large`);
  return n;
}

/**
 * Waits (bounded) until `$1` is a block device, then runs the rest of the arguments.
 * udev creates `/dev/<vg>/<lv>` and `/dev/zvol/...` links a moment after the volume
 * exists; Proxmox waits the same way (ZFSPoolPlugin.pm zfs_wait_for_zvol_link: `-b`
 * once a second, 10 s outside workers). We poll every 0.1 s, at most `$2` times.
 * Exit 18 means the device never appeared.
 */
export const WAIT_FOR_BLOCK_DEVICE = [
  'dev=$1; tries=$2; shift 2; i=0',
  'while [ ! -b "$dev" ]; do',
  '  if [ "$i" -ge "$tries" ]; then echo "no block device $dev appeared" >&2; exit 18; fi',
  '  i=$((i+1)); sleep 0.1',
  'done',
  'exec "$@"',
].join('\n');

export const BLOCK_DEVICE_MISSING_EXIT = 18;
/** 100 × 0.1 s: the 10 s Proxmox allows outside of workers. */
export const BLOCK_DEVICE_WAIT_TRIES = 100;

export function waitForBlockDeviceArgv(device: string, then: readonly string[], tries = BLOCK_DEVICE_WAIT_TRIES): string[] {
  return ['sh', '-c', WAIT_FOR_BLOCK_DEVICE, 'shear-wait-device', device, String(tries), ...then];
}

/** `pattern.test` without the `lastIndex` trap of global/sticky regexps. */
export function matches(pattern: RegExp, name: string): boolean {
  pattern.lastIndex = 0;
  const ok = pattern.test(name);
  pattern.lastIndex = 0;
  return ok;
}

export function byName(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** A failed storage command as a StorageError that says what we tried; the RemoteCommandError is its cause. */
export function commandFailed(host: StorageHost, what: string, argv: readonly string[], result: ExecResult): StorageError {
  const cause = new RemoteCommandError(host.label, argv, result);
  const status = result.code !== null ? `exit code ${result.code}` : `signal ${result.signal ?? 'unknown'}`;
  const detail = result.stderr.trim() || result.stdout.trim();
  return new StorageError(`${host.label}: ${what} (${status})${detail ? `: ${detail.slice(0, 2000)}` : ''}`, { cause });
}

/** Runs a storage command; a non-zero exit becomes {@link commandFailed} with `what` in front. */
/**
 * Storage commands handle metadata (create, list, remove an image), which takes seconds; one
 * still running after a minute hangs on its storage (a dead NFS server), and waiting forever
 * would hold a failed run's teardown, and its journal lock, with it.
 */
export const STORAGE_COMMAND_TIMEOUT_MS = 60_000;

export async function runChecked(host: StorageHost, what: string, argv: readonly string[]): Promise<ExecResult> {
  const r = await host.exec(argv, { timeoutMs: STORAGE_COMMAND_TIMEOUT_MS });
  if (r.code !== 0) throw commandFailed(host, what, argv, r);
  return r;
}
