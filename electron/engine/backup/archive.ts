import type { Manifest } from '../../../shared/model.js';
import type { HostSession } from '../hosts/host-session.js';
import { contentDigest, type ContentDigest } from '../archive/content-digest.js';
import { inspectImage } from '../archive/image-check.js';
import { SshError } from '../ssh/errors.js';

// Writes the definition (argument) and the manifest (stdin) into the partial folder, then renames it.
// mv -T: never move INTO an existing folder; a second run in the same second must fail, not nest.
// Everything is synced (fsync per file, then the folder) before the rename makes it an archive, and the
// parent after it: a crash right after "done" must not leave an archive whose files are still in RAM.
const WRITE_AND_FINALIZE = 'umask 022; { [ -z "$3" ] || printf "%s\\n" "$3" > "$1/$4"; } && cat > "$1/manifest.json" && sync -- "$1"/* "$1" || exit 1; [ ! -e "$2" ] || { echo "$2 exists already" >&2; exit 17; }; mv -T -- "$1" "$2" && sync -- "$(dirname -- "$2")"';

/**
 * The VM's definition (plain hosts: its QEMU command line; Proxmox: its config) and the
 * manifest go into the `.partial` folder, which then becomes the archive, in one command.
 */
export async function writeAndFinalizeArchive(host: HostSession, partialDir: string, finalDir: string, definition: Record<string, unknown>, manifest: Manifest): Promise<void> {
  let text = JSON.stringify(definition, null, 2);
  // One shell argument holds at most 128 KiB (Linux MAX_ARG_STRLEN): a bigger definition goes by stdin first.
  if (Buffer.byteLength(text) > 64 * 1024) {
    await host.execChecked(['sh', '-c', 'umask 022; cat > "$1"', 'shear-write', `${partialDir}/${manifest.definition}`], { stdin: `${text}\n` });
    text = '';
  }
  await host.execChecked(['sh', '-c', WRITE_AND_FINALIZE, 'shear-finalize', partialDir, finalDir, text, manifest.definition], {
    stdin: `${JSON.stringify(manifest, null, 2)}\n`,
  });
}

/** The copy is complete and sound: qcow2 metadata checks clean and the size is the disk's. */
async function verifyTargetImage(host: HostSession, path: string, sizeBytes: number): Promise<void> {
  try {
    await verifyOnce(host, path, sizeBytes);
  } catch (err) {
    // A link lost mid-check says nothing about the image: check again over the new connection.
    if (!(err instanceof SshError)) throw err;
    await verifyOnce(host, path, sizeBytes);
  }
}

async function verifyOnce(host: HostSession, path: string, sizeBytes: number): Promise<void> {
  const image = await inspectImage(host, path, 'qcow2');
  if (image.state === 'missing') throw new Error(`archive image ${path} is missing`);
  if (image.state === 'damaged') throw new Error(`archive image ${path} failed qemu-img check: ${image.detail}`);
  if (image.state === 'unreadable') throw new Error(`cannot inspect archive image ${path}: ${image.detail}`);
  if (image.sizeBytes !== sizeBytes) throw new Error(`archive image ${path} is ${image.sizeBytes} bytes, the disk is ${sizeBytes}`);
}

/** A freshly written archive image: sound, of the disk's size, and its content checksum for the manifest. */
export async function checkArchivedImage(host: HostSession, path: string, sizeBytes: number, signal?: AbortSignal): Promise<ContentDigest> {
  await verifyTargetImage(host, path, sizeBytes);
  const sum = await contentDigest(host, path, 'qcow2', undefined, signal, sizeBytes);
  if (sum.size !== sizeBytes) throw new Error(`${path}: checksummed ${sum.size} bytes, the disk is ${sizeBytes}`);
  return sum;
}
