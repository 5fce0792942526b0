import type { Manifest } from '../../../shared/model.js';
import { HOST_PARALLELISM, mapLimit } from '../map-limit.js';
import type { StorageHost } from '../storage/storage.js';
import { contentDigest, DIGEST_ALGORITHM } from './content-digest.js';
import { ArchiveError, readArchiveManifest } from './manifest.js';

/**
 * Verify an archive as Proxmox Backup Server verifies its chunks: every disk
 * file present, its image structure sound (`qemu-img check`), its virtual
 * size as recorded, and its content hashing to the checksum taken at backup time.
 */
export interface DiskVerdict {
  device: string;
  file: string;
  ok: boolean;
  problems: string[];
  /** Said, but not a failure (an archive from before checksums existed). */
  notes: string[];
}

export interface VerifyReport {
  archive: string;
  ok: boolean;
  manifest: Manifest | null;
  /** Archive-level problems (no manifest, a damaged one). */
  problems: string[];
  disks: DiskVerdict[];
}

// 92: the file is missing; 91: qemu-img check found damage; else qemu-img info's JSON.
const INSPECT = '[ -f "$1" ] || exit 92; qemu-img check -q -f "$2" -- "$1" >&2 || exit 91; exec qemu-img info --output=json -f "$2" -- "$1"';

export async function verifyDisk(host: StorageHost, archiveDir: string, d: Manifest['disks'][number], signal?: AbortSignal): Promise<DiskVerdict> {
  const path = `${archiveDir}/${d.file}`;
  const verdict: DiskVerdict = { device: d.device, file: d.file, ok: false, problems: [], notes: [] };
  const r = await host.exec(['sh', '-c', INSPECT, 'shear-verify', path, d.format]);
  if (r.code === 92) verdict.problems.push(`${d.file} is missing`);
  else if (r.code === 91) verdict.problems.push(`${d.file} is damaged: qemu-img check: ${(r.stderr || r.stdout).trim() || 'errors found'}`);
  else if (r.code !== 0) verdict.problems.push(`${d.file} cannot be read: ${(r.stderr || r.stdout).trim()}`);
  else {
    const size = (JSON.parse(r.stdout) as { 'virtual-size': number })['virtual-size'];
    if (size !== d.size) verdict.problems.push(`${d.file} is ${size} bytes, the manifest says ${d.size}`);
    else if (!d.checksum) verdict.notes.push('no checksum recorded (an archive from before Shear kept checksums): content not verified');
    else if (d.checksum.algorithm !== DIGEST_ALGORITHM) verdict.problems.push(`unknown checksum algorithm ${d.checksum.algorithm}`);
    else {
      const sum = await contentDigest(host, path, d.format, undefined, signal);
      if (sum.digest !== d.checksum.digest) verdict.problems.push(`content does not match its checksum (${DIGEST_ALGORITHM} expected ${d.checksum.digest}, got ${sum.digest})`);
    }
  }
  verdict.ok = verdict.problems.length === 0;
  return verdict;
}

export async function verifyArchive(host: StorageHost, archiveDir: string, onDisk?: (v: DiskVerdict) => void, signal?: AbortSignal): Promise<VerifyReport> {
  const dir = archiveDir.replace(/\/+$/, '');
  let manifest: Manifest;
  try {
    manifest = await readArchiveManifest(host, dir);
  } catch (err) {
    if (!(err instanceof ArchiveError)) throw err;
    return { archive: dir, ok: false, manifest: null, problems: [err.message], disks: [] };
  }
  const disks = await mapLimit(manifest.disks, HOST_PARALLELISM, async (d) => {
    const v = await verifyDisk(host, dir, d, signal);
    onDisk?.(v);
    return v;
  });
  return { archive: dir, ok: disks.every((d) => d.ok), manifest, problems: [], disks };
}
