import { posix } from 'node:path';
import type { Manifest } from '../../../shared/model.js';
import { UndoStack } from '../backup/undo-stack.js';
import type { HostDriver } from '../hosts/host-driver.js';
import { listVms } from '../hosts/discovery.js';
import { lockVm, proxmoxConfig } from '../hosts/proxmox.js';
import { configVolumes, openVolume } from '../hosts/proxmox-volumes.js';
import { pathStates } from '../leftovers/host-probe.js';
import { ArchiveError, readArchiveManifest } from './manifest.js';
import { checkRestored, selectDisks, writeDisk, type RestoreCommon } from './restore.js';

/**
 * Restore INTO an existing VM's disks: the one restore that overwrites, so it
 * runs only on an explicit yes, only while nothing runs the VM, and every check
 * (VM stopped, disk found, size, no QEMU holding the image) passes for every
 * disk before the first byte is written. A running VM's disk is never touched.
 */
export interface RestoreIntoOptions extends RestoreCommon {
  driver: HostDriver;
  /** The VM's id or name. */
  vm: string;
  yes: boolean;
}

interface Destination {
  disk: Manifest['disks'][number];
  path: string;
  format: string;
  sizeBytes: number;
}

export async function restoreIntoVm(o: RestoreIntoOptions): Promise<{ manifest: Manifest; written: string[] }> {
  const { host } = o;
  const undo = new UndoStack();
  // Once a byte is written, a failure leaves the disk inconsistent: then the VM stays locked (Proxmox).
  let writing = false;
  const log = (message: string, disk?: string) => o.emit({ type: 'log', level: 'info', message, time: Date.now(), ...(disk ? { disk } : {}) });
  try {
    if (o.disks.length === 0) throw new ArchiveError('name the disk(s) to overwrite with --disk DEVICE (restoring into a VM never picks disks by itself)');
    const manifest = await readArchiveManifest(host, o.archiveDir);
    const disks = selectDisks(manifest, o.disks, o.archiveDir);
    const vms = await o.driver.listVms();
    const vm = vms.find((v) => v.id === o.vm) ?? vms.find((v) => v.name === o.vm);
    const running = vm && (vm.qmpSockets.length > 0 || vm.pid > 0 || (vm.proxmox && vm.proxmox.status !== 'stopped'));
    if (running) throw new Error(`VM ${o.vm} is running: its disks are never overwritten. Stop it first, or restore as new images (without --vm)`);
    // The archive must be this VM's: its disks are found by what the archive recorded.
    if (manifest.vm.id !== o.vm && manifest.vm.name !== o.vm && String(vm?.proxmox?.vmid ?? '') !== manifest.vm.id) {
      throw new Error(`${o.archiveDir} is a backup of VM ${manifest.vm.id}, not of ${o.vm}; restore it as new images instead`);
    }
    if (!o.yes) {
      const where = o.driver.kind === 'plain' ? ` (${disks.map((d) => d.source?.file ?? '?').join(', ')})` : '';
      throw new Error(`restoring into VM ${o.vm} overwrites its disk(s) ${disks.map((d) => d.device).join(', ')}${where}; add --yes to do that`);
    }

    const destinations: Destination[] = [];
    if (o.driver.kind === 'proxmox') {
      const vmid = vm?.proxmox?.vmid;
      if (vmid === undefined) throw new Error(`no Proxmox VM ${o.vm} on ${host.label}`);
      // As qmrestore: the VM is locked while its disks are written, so nothing starts it meanwhile.
      const release = await lockVm(host, vmid, 'create');
      undo.push('unlock the VM', async ({ ok }) => {
        if (!ok && writing) {
          o.emit({ type: 'warning', message: `VM ${vmid} keeps its create lock: its disks are partly overwritten. Restore again, or \`qm unlock ${vmid}\` once you have decided`, time: Date.now() });
          return;
        }
        await release();
      });
      const volumes = configVolumes(await proxmoxConfig(host, vmid));
      for (const d of disks) {
        const v = volumes.find((x) => x.key === d.device);
        if (!v) throw new Error(`VM ${vmid} has no disk ${d.device} (it has ${volumes.map((x) => x.key).join(', ') || 'none'})`);
        const opened = await openVolume(host, v.volid);
        if (opened.release) undo.push(`deactivate ${v.volid}`, opened.release);
        destinations.push({ disk: d, path: opened.path, format: opened.format, sizeBytes: opened.sizeBytes });
      }
    } else {
      for (const d of disks) {
        if (!d.source) throw new ArchiveError(`${o.archiveDir}: the archive does not record where disk ${d.device} lived; restore it as a new image instead`);
        // An absolute, already normalized path (no `..`, `.` or `//` that could lead elsewhere than it says).
        if (!d.source.file.startsWith('/') || posix.normalize(d.source.file) !== d.source.file || /[\n\0]/.test(d.source.file) || !['qcow2', 'raw'].includes(d.source.format)) {
          throw new ArchiveError(`${o.archiveDir}: disk ${d.device} records an unusable source (${JSON.stringify(d.source)})`);
        }
        // What its header says it is now (probed, never told): the size, and whether it is still the recorded format.
        const r = await host.exec(['qemu-img', 'info', '--output=json', '-U', '--', d.source.file]);
        if (r.code !== 0) throw new Error(`${d.device}: the VM's image ${d.source.file} cannot be opened: ${(r.stderr || r.stdout).trim()}`);
        const now = JSON.parse(r.stdout) as { format: string; 'virtual-size': number };
        if (now.format !== d.source.format) {
          // Converted since the backup (or a raw disk whose guest wrote an image header): writing the
          // recorded format over it would destroy it, and its checksum would still "verify".
          throw new Error(`${d.device}: ${d.source.file} is ${now.format} now, the archive recorded it as ${d.source.format}; not overwritten (restore as a new image instead)`);
        }
        destinations.push({ disk: d, path: d.source.file, format: d.source.format, sizeBytes: now['virtual-size'] });
      }
    }
    // Whatever the VM list says: an image some QEMU holds open is in use.
    const pids = (await listVms(host)).map((v) => v.pid);
    const states = await pathStates(host, destinations.map((x) => x.path), pids);
    for (const dest of destinations) {
      const held = states.get(dest.path)?.heldBy ?? [];
      if (held.length > 0) throw new Error(`${dest.disk.device}: ${dest.path} is open in a running QEMU (pid ${held.join(', ')}); it is not overwritten`);
      if (dest.sizeBytes < dest.disk.size) throw new Error(`${dest.disk.device}: ${dest.path} is ${dest.sizeBytes} bytes, smaller than the archived ${dest.disk.size}`);
      if (dest.format !== 'qcow2' && dest.sizeBytes > dest.disk.size) {
        o.emit({ type: 'warning', message: `${dest.disk.device}: ${dest.path} is ${dest.sizeBytes} bytes, the archived disk ${dest.disk.size}; the bytes past it keep what they hold now`, time: Date.now() });
      }
      if (dest.format === 'qcow2' && dest.sizeBytes !== dest.disk.size) {
        throw new Error(`${dest.disk.device}: ${dest.path} is ${dest.sizeBytes} bytes now, the archived disk ${dest.disk.size}; resize it back first or restore as a new image`);
      }
    }

    const written: string[] = [];
    for (const dest of destinations) {
      log(`overwriting ${dest.path} (${dest.format}) with the archived ${dest.disk.device}`, dest.disk.device);
      writing = true;
      await writeDisk(o, dest.disk, { path: dest.path, format: dest.format, knownZero: false });
      written.push(dest.path);
      await checkRestored(o, dest.disk, dest.path, dest.format);
    }
    const report = await undo.unwind({ ok: true }, (m) => o.emit({ type: 'warning', message: m, time: Date.now() }));
    if (report.failed.length > 0) throw new Error(`restored, but ${report.failed.map((f) => `${f.name}: ${f.error}`).join('; ')}`);
    o.emit({ type: 'result', ok: true, time: Date.now() });
    return { manifest, written };
  } catch (err) {
    const error = err instanceof Error ? err : new Error(String(err));
    o.emit({ type: 'log', level: 'error', message: error.message, time: Date.now() });
    await undo.unwind({ ok: false }, (m) => o.emit({ type: 'warning', message: m, time: Date.now() }));
    if (writing) o.emit({ type: 'warning', message: 'the restore stopped after it began writing: the VM\'s disks are partly overwritten; restore again before starting it', time: Date.now() });
    o.emit({ type: 'result', ok: false, error: error.message, time: Date.now() });
    throw error;
  }
}
