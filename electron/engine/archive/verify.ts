import type { Manifest } from '../../../shared/model.js';
import { HOST_PARALLELISM, mapLimit } from '../map-limit.js';
import type { StorageHost } from '../storage/storage.js';
import { checkContent, DigestError } from './content-digest.js';
import { inspectImage } from './image-check.js';
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

export async function verifyDisk(host: StorageHost, archiveDir: string, d: Manifest['disks'][number], signal?: AbortSignal): Promise<DiskVerdict> {
  const path = `${archiveDir}/${d.file}`;
  const verdict: DiskVerdict = { device: d.device, file: d.file, ok: false, problems: [], notes: [] };
  const image = await inspectImage(host, path, d.format);
  if (image.state === 'missing') verdict.problems.push(`${d.file} is missing`);
  else if (image.state === 'damaged') verdict.problems.push(`${d.file} is damaged: qemu-img check: ${image.detail}`);
  else if (image.state === 'unreadable') verdict.problems.push(`${d.file} cannot be read: ${image.detail}`);
  else if (image.sizeBytes !== d.size) verdict.problems.push(`${d.file} is ${image.sizeBytes} bytes, the manifest says ${d.size}`);
  else if (!d.checksum) verdict.notes.push('no checksum recorded (an archive from before Shear kept checksums): content not verified');
  else {
    try {
      const content = await checkContent(host, path, d.format, d.checksum, undefined, signal, d.size);
      if (!content.ok) verdict.problems.push(content.problem);
    } catch (err) {
      // The content could not be read to the end (a truncated file, an I/O error): this disk fails, the others are still checked.
      if (signal?.aborted || !(err instanceof DigestError)) throw err;
      verdict.problems.push(`${d.file}: content cannot be checked: ${err.message}`);
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
