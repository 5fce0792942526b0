import type { Manifest, RunEvent, VmSummary } from '../../../shared/model.js';
import type { HostSession } from '../hosts/host-session.js';
import { proxmoxConfig } from '../hosts/proxmox.js';
import { configVolumes, openVolume } from '../hosts/proxmox-volumes.js';
import { checkArchivedImage, writeAndFinalizeArchive } from './archive.js';
import { convertProgress } from './convert-progress.js';
import { BackupCancelledError, BackupFailedError } from './errors.js';
import { DEFAULT_JOURNAL_DIR, RunJournal } from './journal.js';
import { archiveTimestamp, newRunId, safeNamePart } from './plan.js';
import { UndoStack } from './undo-stack.js';

/**
 * A Proxmox VM with no QEMU running (stopped, or a template) cannot change while
 * its backup lock is held, so there is nothing to fleece: each volume is copied
 * straight from where Proxmox keeps it (`pvesm path`) with `qemu-img convert`.
 */

export interface OfflineBackupOptions {
  host: HostSession;
  vm: VmSummary;
  targetDir: string;
  emit: (event: RunEvent) => void;
  toolVersion: string;
  journalDir?: string;
  signal?: AbortSignal;
  lock: () => Promise<() => Promise<void>>;
}


export async function runOfflineBackup(o: OfflineBackupOptions): Promise<{ archiveDir: string; manifest: Manifest }> {
  const { host } = o;
  const vmid = o.vm.proxmox?.vmid;
  if (vmid === undefined) throw new Error(`VM ${o.vm.id} is not a Proxmox VM; only Proxmox VMs can be backed up while stopped`);
  const now = () => Date.now();
  const log = (level: 'info' | 'warn' | 'error', message: string, disk?: string) => o.emit({ type: 'log', level, message, time: now(), ...(disk ? { disk } : {}) });
  const undo = new UndoStack();
  const startedAt = new Date();
  const runId = newRunId();
  const vmDir = `${o.targetDir.replace(/\/+$/, '')}/${safeNamePart(o.vm.id)}`;
  const archiveDir = `${vmDir}/${archiveTimestamp(startedAt)}`;
  const partialDir = `${archiveDir}.partial`;
  let partialCreated = false;
  const journal = new RunJournal(host, {
    formatVersion: 1, runId, host: host.label, vm: { id: o.vm.id, name: o.vm.name, pid: 0, qmpSockets: [] },
    startedAt: startedAt.toISOString(), updatedAt: startedAt.toISOString(), state: 'preparing', steps: [], images: [], nodes: [], devices: [], jobs: [],
    archivePartialDir: partialDir, vmPausedByShear: false,
  }, o.journalDir ?? DEFAULT_JOURNAL_DIR);
  const check = () => {
    if (o.signal?.aborted) throw new BackupCancelledError();
  };
  try {
    await journal.lock((m) => o.emit({ type: 'warning', message: m, time: now() }));
    await journal.write();
    // Taken or not, nobody may be able to tell: then it is released if it is a backup lock (the unlock checks).
    await undo.take('release the backup lock', o.lock);
    // Recorded only once it is ours: cleanup must never release somebody else's lock.
    await journal.step('locked', { proxmoxLock: { vmid } });
    const config = await proxmoxConfig(host, vmid);
    const volumes = configVolumes(config);
    if (volumes.length === 0) throw new Error(`VM ${vmid} has no disks to back up`);
    log('info', `VM ${vmid} is ${o.vm.proxmox?.template ? 'a template' : 'stopped'}: copying ${volumes.length} volume(s) directly, no fleecing needed`);
    await host.execChecked(['sh', '-c', 'mkdir -p -- "$1" && mkdir -- "$2"', 'shear-archive', vmDir, partialDir]);
    partialCreated = true;
    const disks: Manifest['disks'] = [];
    for (const v of volumes) {
      check();
      const volume = await openVolume(host, v.volid);
      if (volume.release) {
        log('info', `activated ${v.volid} for the copy; it is deactivated again afterwards`, v.key);
        undo.push(`deactivate ${v.volid}`, volume.release);
      }
      const { path, format, sizeBytes } = volume;
      const file = `${safeNamePart(v.key)}.qcow2`;
      const progress = convertProgress(v.key, sizeBytes, o.emit);
      await host.execChecked(['qemu-img', 'convert', '-p', '-f', format, '-O', 'qcow2', path, `${partialDir}/${file}`], {
        ...(o.signal ? { signal: o.signal } : {}),
        onStdout: progress.onStdout,
      });
      progress.done();
      const sum = await checkArchivedImage(host, `${partialDir}/${file}`, sizeBytes, o.signal);
      disks.push({ device: v.key, file, format: 'qcow2', size: sizeBytes, fleecing: false, role: v.role, checksum: { algorithm: sum.algorithm, digest: sum.digest } });
      log('info', `${v.volid} copied (${sizeBytes} bytes)`, v.key);
    }
    const manifest: Manifest = {
      formatVersion: 1, tool: { name: 'shear', version: o.toolVersion }, vm: { id: o.vm.id, name: o.vm.name }, host: host.label,
      startedAt: startedAt.toISOString(), finishedAt: new Date().toISOString(), qemuVersion: '', runState: o.vm.proxmox?.template ? 'template' : 'stopped',
      pauseMs: 0, fsFreeze: 'no-agent', definition: 'definition.json', disks,
    };
    await writeAndFinalizeArchive(host, partialDir, archiveDir, { kind: 'proxmox-vm-config', vmid, config }, manifest);
    partialCreated = false;
    const report = await undo.unwind({ ok: true }, (m) => o.emit({ type: 'warning', message: m, time: now() }));
    if (report.failed.length > 0) throw new BackupFailedError(`releasing the lock failed: ${report.failed.map((f) => f.error).join('; ')}`, report.failed);
    await journal.remove();
    o.emit({ type: 'result', ok: true, archive: archiveDir, time: now() });
    return { archiveDir, manifest };
  } catch (err) {
    const error = err instanceof Error ? err : new Error(String(err));
    log('error', error.message);
    const report = await undo.unwind({ ok: false }, (m) => o.emit({ type: 'warning', message: m, time: now() }));
    if (partialCreated) await host.execChecked(['rm', '-rf', '--', partialDir]).catch((e: unknown) => report.failed.push({ name: `remove ${partialDir}`, error: (e as Error).message }));
    if (report.failed.length === 0) await journal.remove().catch(() => undefined);
    else await journal.release().catch(() => undefined);
    o.emit({ type: 'result', ok: false, error: error.message, time: now() });
    if (error instanceof BackupCancelledError || o.signal?.aborted) throw new BackupCancelledError();
    throw new BackupFailedError(error.message, report.failed, { cause: error });
  }
}
