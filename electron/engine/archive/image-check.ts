import type { StorageHost } from '../storage/storage.js';

/**
 * An image file's structural state in one command: there at all, sound by
 * `qemu-img check`, and its virtual size. Used on archive images right after a
 * backup wrote them and whenever an archive is verified.
 */
export type ImageState =
  | { state: 'missing' }
  | { state: 'damaged'; detail: string }
  | { state: 'unreadable'; detail: string }
  | { state: 'ok'; sizeBytes: number };

// 92: the file is missing; 91: qemu-img check found damage; else qemu-img info's JSON.
const INSPECT = '[ -f "$1" ] || exit 92; qemu-img check -q -f "$2" -- "$1" >&2 || exit 91; exec qemu-img info --output=json -f "$2" -- "$1"';

export async function inspectImage(host: StorageHost, path: string, format: string): Promise<ImageState> {
  const r = await host.exec(['sh', '-c', INSPECT, 'shear-inspect', path, format]);
  const detail = (r.stderr || r.stdout).trim();
  if (r.code === 92) return { state: 'missing' };
  if (r.code === 91) return { state: 'damaged', detail: detail || 'errors found' };
  if (r.code !== 0) return { state: 'unreadable', detail };
  return { state: 'ok', sizeBytes: (JSON.parse(r.stdout) as { 'virtual-size': number })['virtual-size'] };
}
