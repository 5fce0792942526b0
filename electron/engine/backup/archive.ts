import type { Manifest } from '../../../shared/model.js';
import type { HostSession } from '../hosts/host-session.js';
import { SshError } from '../ssh/errors.js';

const WRITE_FILE = 'umask 022; cat > "$1"';
// mv -T: never move INTO an existing folder; a second run in the same second must fail, not nest.
const FINALIZE = '[ ! -e "$2" ] || { echo "$2 exists already" >&2; exit 17; }; mv -T -- "$1" "$2"';

/** The VM's definition (plain hosts: its QEMU command line; Proxmox: its config) and the manifest. */
export async function writeArchiveFiles(host: HostSession, dir: string, definition: Record<string, unknown>, manifest: Manifest): Promise<void> {
  await host.execChecked(['sh', '-c', WRITE_FILE, 'shear-write', `${dir}/${manifest.definition}`], { stdin: `${JSON.stringify(definition, null, 2)}\n` });
  await host.execChecked(['sh', '-c', WRITE_FILE, 'shear-write', `${dir}/manifest.json`], { stdin: `${JSON.stringify(manifest, null, 2)}\n` });
}

export async function finalizeArchive(host: HostSession, partialDir: string, finalDir: string): Promise<void> {
  await host.execChecked(['sh', '-c', FINALIZE, 'shear-finalize', partialDir, finalDir]);
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

async function verifyOnce(host: HostSession, path: string, sizeBytes: number): Promise<void> {
  const check = await host.exec(['qemu-img', 'check', '-q', '-f', 'qcow2', path]);
  if (check.code !== 0) throw new Error(`archive image ${path} failed qemu-img check: ${(check.stderr || check.stdout).trim()}`);
  const info = JSON.parse((await host.execChecked(['qemu-img', 'info', '--output=json', '-f', 'qcow2', path])).stdout) as { 'virtual-size': number };
  if (info['virtual-size'] !== sizeBytes) {
    throw new Error(`archive image ${path} is ${info['virtual-size']} bytes, the disk is ${sizeBytes}`);
  }
}
