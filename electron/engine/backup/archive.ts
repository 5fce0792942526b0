import type { Manifest } from '../../../shared/model.js';
import type { HostSession } from '../hosts/host-session.js';
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
export async function verifyTargetImage(host: HostSession, path: string, sizeBytes: number): Promise<void> {
  try {
    await verifyOnce(host, path, sizeBytes);
  } catch (err) {
    // A link lost mid-check says nothing about the image: check again over the new connection.
    if (!(err instanceof SshError)) throw err;
    await verifyOnce(host, path, sizeBytes);
  }
}

// Check, then the size: one command (each costs an SSH channel).
const CHECK_AND_INFO = 'qemu-img check -q -f qcow2 -- "$1" >&2 || exit 91; exec qemu-img info --output=json -f qcow2 -- "$1"';

async function verifyOnce(host: HostSession, path: string, sizeBytes: number): Promise<void> {
  const r = await host.exec(['sh', '-c', CHECK_AND_INFO, 'shear-verify', path]);
  if (r.code === 91) throw new Error(`archive image ${path} failed qemu-img check: ${(r.stderr || r.stdout).trim()}`);
  if (r.code !== 0) throw new Error(`cannot inspect archive image ${path}: ${(r.stderr || r.stdout).trim()}`);
  const info = JSON.parse(r.stdout) as { 'virtual-size': number };
  if (info['virtual-size'] !== sizeBytes) {
    throw new Error(`archive image ${path} is ${info['virtual-size']} bytes, the disk is ${sizeBytes}`);
  }
}
