import { z } from 'zod';
import type { Manifest } from '../../../shared/model.js';
import type { StorageHost } from '../storage/storage.js';

/**
 * Reading an archive's manifest back: it comes from a disk that may have been
 * damaged, edited or truncated, so it is parsed and validated, and each way it
 * can be wrong has its own clear error.
 */
export class ArchiveError extends Error {}

// A disk file is a plain name inside the archive folder: never a path that could leave it.
const fileName = z.string().regex(/^[A-Za-z0-9_.+-]+$/).refine((n) => n !== '.' && n !== '..', 'not a file name');

const manifestSchema = z.object({
  formatVersion: z.literal(1),
  tool: z.object({ name: z.literal('shear'), version: z.string() }),
  vm: z.object({ id: z.string().min(1), name: z.string() }),
  host: z.string(),
  startedAt: z.string(),
  finishedAt: z.string(),
  qemuVersion: z.string(),
  runState: z.string(),
  pauseMs: z.number(),
  fsFreeze: z.enum(['frozen', 'no-agent', 'agent-unavailable', 'failed']),
  definition: fileName,
  disks: z.array(z.object({
    device: z.string().min(1),
    file: fileName,
    format: z.enum(['qcow2', 'raw']),
    size: z.number().int().positive(),
    fleecing: z.boolean(),
    role: z.enum(['disk', 'efivars', 'tpmstate']),
    source: z.object({ file: z.string(), format: z.string() }).optional(),
    checksum: z.object({ algorithm: z.string(), digest: z.string().regex(/^[0-9a-f]{64}$/) }).optional(),
  })).min(1),
});

export function parseManifest(text: string, where: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ArchiveError(`${where}: manifest.json is not valid JSON (truncated or damaged): ${(err as Error).message}`);
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new ArchiveError(`${where}: manifest.json is malformed: ${first ? `${first.path.join('.') || '(top)'}: ${first.message}` : 'invalid'}`);
  }
  const devices = parsed.data.disks.map((d) => d.device);
  const dup = devices.find((d, i) => devices.indexOf(d) !== i);
  if (dup) throw new ArchiveError(`${where}: manifest.json lists disk ${dup} twice`);
  return parsed.data as Manifest;
}

// Exit 66 (no manifest) and 67 (not a folder) are ours; cat prints the file.
const READ = '[ -d "$1" ] || exit 67; [ -f "$1/manifest.json" ] || exit 66; exec cat -- "$1/manifest.json"';

export async function readArchiveManifest(host: StorageHost, archiveDir: string): Promise<Manifest> {
  if (!archiveDir.startsWith('/')) throw new ArchiveError(`archive "${archiveDir}" must be an absolute path on the host`);
  const r = await host.exec(['sh', '-c', READ, 'shear-manifest', archiveDir]);
  if (r.code === 67) throw new ArchiveError(`${host.label}: no archive folder ${archiveDir}`);
  if (r.code === 66) throw new ArchiveError(`${host.label}: ${archiveDir} has no manifest.json (not a Shear archive, or an unfinished one)`);
  if (r.code !== 0) throw new ArchiveError(`${host.label}: cannot read ${archiveDir}/manifest.json: ${r.stderr.trim()}`);
  return parseManifest(r.stdout, archiveDir);
}
