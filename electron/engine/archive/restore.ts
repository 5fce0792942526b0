import type { ImageFormat, Manifest, RunEvent } from '../../../shared/model.js';
import { BackupCancelledError } from '../backup/errors.js';
import { archiveTimestamp, safeNamePart } from '../backup/plan.js';
import { convertProgress } from '../backup/convert-progress.js';
import { UndoStack } from '../backup/undo-stack.js';
import type { HostSession } from '../hosts/host-session.js';
import { ImageExistsError } from '../storage/errors.js';
import type { Storage, StoredImage } from '../storage/storage.js';
import { checkContent } from './content-digest.js';
import { ArchiveError, readArchiveManifest } from './manifest.js';

/**
 * Restore: an archive's disks become images again, and count as restored only
 * once their content hashes to the checksum taken at backup time.
 *
 * As new images (the default): on any storage, in the format it prefers, named
 * `vm-<id>-restore-<time>-<device>` so they never collide with what exists;
 * anything created is freed again if a disk fails (full storage, bad archive).
 * Into an existing VM's disk: only while nothing runs it (see restore-into.ts).
 */
export interface RestoredImage {
  device: string;
  storage: string;
  name: string;
  path: string;
  format: ImageFormat;
  size: number;
}

export interface RestoreCommon {
  host: HostSession;
  archiveDir: string;
  /** Devices to restore; all when empty. */
  disks: string[];
  emit: (e: RunEvent) => void;
  signal?: AbortSignal;
}


export function selectDisks(manifest: Manifest, wanted: string[], where: string): Manifest['disks'] {
  if (wanted.length === 0) return manifest.disks;
  const unknown = wanted.filter((w) => !manifest.disks.some((d) => d.device === w));
  if (unknown.length > 0) throw new ArchiveError(`${where} has no disk ${unknown.join(', ')} (it has ${manifest.disks.map((d) => d.device).join(', ')})`);
  return manifest.disks.filter((d) => wanted.includes(d.device));
}

/** Copies one archived disk into an image with `qemu-img convert -n`, reporting progress. */
export async function writeDisk(
  o: RestoreCommon,
  d: Manifest['disks'][number],
  dest: { path: string; format: string; knownZero: boolean },
): Promise<void> {
  const progress = convertProgress(d.device, d.size, o.emit);
  const r = await o.host.exec(
    ['qemu-img', 'convert', '-p', '-n', ...(dest.knownZero ? ['--target-is-zero'] : []), '-f', d.format, '-O', dest.format, `${o.archiveDir}/${d.file}`, dest.path],
    { ...(o.signal ? { signal: o.signal } : {}), onStdout: progress.onStdout },
  );
  if (r.code !== 0) throw new Error(`${d.device}: writing ${dest.path} failed: ${(r.stderr || r.stdout).trim()}`);
  progress.done();
}

/** The restored content must hash as the backup did (only the disk's bytes: an LV may be rounded up). */
export async function checkRestored(o: RestoreCommon, d: Manifest['disks'][number], path: string, format: string): Promise<void> {
  if (!d.checksum) {
    o.emit({ type: 'warning', message: `${d.device}: the archive has no checksum for this disk; the restored content is not verified`, time: Date.now() });
    return;
  }
  const content = await checkContent(o.host, path, format, d.checksum, d.size, o.signal);
  if (!content.ok) throw new Error(`${d.device}: restored to ${path}, but ${content.problem}`);
  o.emit({ type: 'log', level: 'info', message: `${d.device}: restored content verified (${d.checksum.algorithm} ${content.digest})`, disk: d.device, time: Date.now() });
}

/**
 * The archived QEMU command line with each restored disk's old image path replaced by
 * its new one, so the restored VM can be started from the record (pure). A disk whose
 * format changed (a raw image restored as qcow2) is named in `notes`: its `format=` /
 * `"driver"` must change too, which a text replacement cannot judge safely.
 */
export function restoredCommandLine(
  argv: readonly string[],
  swaps: ReadonlyArray<{ device: string; from: string; to: string; fromFormat: string; toFormat: string }>,
): { argv: string[]; notes: string[] } {
  const notes: string[] = [];
  let out = [...argv];
  for (const w of swaps) {
    // The path as a whole value only (`/srv/web.img` must not match inside `/srv/web.img2`): the
    // whole argument, or after `=` or `"`, up to the end, a `"`, or a `,` that ends the option.
    // In `-drive file=…` QemuOpts doubles a comma that is part of the value.
    const forms = [{ from: w.from, to: w.to }, ...(w.from.includes(',') ? [{ from: w.from.replaceAll(',', ',,'), to: w.to.replaceAll(',', ',,') }] : [])];
    const patterns = forms.map((f) => ({ re: new RegExp(`(^|[="])${escapeRegExp(f.from)}(?=$|"|,(?!,))`, 'g'), to: f.to }));
    if (!out.some((a) => patterns.some((p) => new RegExp(p.re.source).test(a)))) {
      notes.push(`${w.device}: ${w.from} is not on the archived command line; attach ${w.to} yourself`);
      continue;
    }
    out = out.map((a) => patterns.reduce((text, p) => text.replace(p.re, (_m, lead: string) => `${lead}${p.to}`), a));
    if (w.fromFormat !== w.toFormat) notes.push(`${w.device}: restored as ${w.toFormat}, the VM used ${w.fromFormat}: change that disk's format on the command line`);
  }
  return { argv: out, notes };
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export interface RestoreNewOptions extends RestoreCommon {
  storage: Storage;
}

export interface RestoreResult {
  manifest: Manifest;
  images: RestoredImage[];
  /** Where the restore record (images and the VM's saved definition) was written. */
  recordPath: string;
}

const WRITE_RECORD = 'umask 022; cat > "$1.tmp" && mv -f -- "$1.tmp" "$1"';

export async function restoreAsNewImages(o: RestoreNewOptions): Promise<RestoreResult> {
  const { host, storage } = o;
  const log = (message: string, disk?: string) => o.emit({ type: 'log', level: 'info', message, time: Date.now(), ...(disk ? { disk } : {}) });
  const undo = new UndoStack();
  try {
    const manifest = await readArchiveManifest(host, o.archiveDir);
    const disks = selectDisks(manifest, o.disks, o.archiveDir);
    const format: ImageFormat = storage.formats.includes('qcow2') ? 'qcow2' : (storage.formats[0] ?? 'raw');
    const need = disks.reduce((s, d) => s + d.size, 0);
    const free = await storage.freeBytes(host);
    if (free < need) {
      const msg = `${storage.spec} has ${free} bytes free; the restored disks need up to ${need}`;
      if (!storage.thin || format === 'raw') throw new Error(msg);
      o.emit({ type: 'warning', message: msg, time: Date.now() });
    }
    const stamp = archiveTimestamp(new Date());
    const images: RestoredImage[] = [];
    for (const d of disks) {
      if (o.signal?.aborted) throw new BackupCancelledError();
      let image: StoredImage | null = null;
      for (let n = 1; !image; n++) {
        const base = `vm-${safeNamePart(manifest.vm.id)}-restore-${stamp}-${safeNamePart(d.device)}${n > 1 ? `-${n}` : ''}`;
        const name = storage.pathBased ? `${base}.${format}` : base;
        try {
          image = await storage.allocate(host, name, d.size, format);
        } catch (err) {
          if (err instanceof ImageExistsError && n < 50) continue;
          throw err;
        }
        const created = image;
        // Kept after success; freed if anything fails (a half-written image must not pass for a restore).
        undo.push(`free ${created.name}`, () => storage.free(host, created.name), 'on-failure');
      }
      log(`restoring to ${image.path} (${format}, ${image.sizeBytes} bytes)`, d.device);
      // A qcow2 we just created reads as zeros, so convert may skip them; a raw LV may hold old data.
      await writeDisk(o, d, { path: image.path, format, knownZero: format === 'qcow2' });
      await checkRestored(o, d, image.path, format);
      images.push({ device: d.device, storage: storage.spec, name: image.name, path: image.path, format, size: d.size });
    }
    const definition = await host.execChecked(['cat', '--', `${o.archiveDir}/${manifest.definition}`]).then((r) => JSON.parse(r.stdout) as Record<string, unknown>, () => null);
    // Plain QEMU: a command line that starts the VM on the restored images.
    let start: { argv: string[]; notes: string[] } | null = null;
    if (definition?.kind === 'qemu-command-line' && Array.isArray(definition.argv)) {
      start = restoredCommandLine(definition.argv as string[], images.flatMap((img) => {
        const src = disks.find((d) => d.device === img.device)?.source;
        return src ? [{ device: img.device, from: src.file, to: img.path, fromFormat: src.format, toFormat: img.format }] : [];
      }));
      for (const n of start.notes) o.emit({ type: 'warning', message: n, time: Date.now() });
    }
    // Beside the images on a folder storage, else in the archive folder.
    const first = images[0]?.path ?? '';
    const recordDir = storage.pathBased && first.startsWith('/') ? first.replace(/\/[^/]+$/, '') : o.archiveDir;
    const recordPath = `${recordDir}/vm-${safeNamePart(manifest.vm.id)}-restore-${stamp}.json`;
    // The images are restored and verified: a record that cannot be written (a read-only archive) is no reason to drop them.
    const wrote = await host.execChecked(['sh', '-c', WRITE_RECORD, 'shear-record', recordPath], {
      stdin: `${JSON.stringify({ archive: o.archiveDir, restoredAt: new Date().toISOString(), vm: manifest.vm, images, definition, ...(start ? { startArgv: start.argv, startNotes: start.notes } : {}) }, null, 2)}\n`,
    }).then(() => true, (e: unknown) => {
      o.emit({ type: 'warning', message: `could not write the restore record ${recordPath}: ${(e as Error).message}`, time: Date.now() });
      return false;
    });
    if (wrote) log(`restore record with the VM's saved definition: ${recordPath}`);
    await undo.unwind({ ok: true }, () => undefined);
    o.emit({ type: 'result', ok: true, archive: recordPath, time: Date.now() });
    return { manifest, images, recordPath };
  } catch (err) {
    const error = err instanceof Error ? err : new Error(String(err));
    o.emit({ type: 'log', level: 'error', message: error.message, time: Date.now() });
    await undo.unwind({ ok: false }, (m) => o.emit({ type: 'warning', message: m, time: Date.now() }));
    o.emit({ type: 'result', ok: false, error: error.message, time: Date.now() });
    throw error;
  }
}
