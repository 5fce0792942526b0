import type { ImageFormat, VmDetails, VmDisk } from '../../../shared/model.js';

/**
 * What a backup run will create, decided before anything is touched. Pure: the
 * same plan goes into the journal, the review screen and the runner.
 */

export type FleecingFormatChoice = 'auto' | ImageFormat;

export interface FleecingStorageInfo {
  spec: string;
  formats: readonly ImageFormat[];
  pathBased: boolean;
  imagePath(name: string): string;
}

export interface DiskPlan {
  index: number;
  disk: VmDisk;
  /** Null: copied without fleecing (firmware state, fleecing off, QEMU cannot fleece). */
  fleece: { imageName: string; imagePath: string; format: ImageFormat; node: string; cbwNode: string; snapNode: string } | null;
  targetNode: string;
  /** File name inside the archive folder. */
  targetFile: string;
  jobId: string;
}

export interface BackupPlan {
  runId: string;
  vmId: string;
  disks: DiskPlan[];
  fleecingStorage: string | null;
  /** Final archive folder and the `.partial` folder it is written to first. */
  archiveDir: string;
  partialDir: string;
}

/** A name fragment safe in file names, LV names and zvol names alike. */
export function safeNamePart(value: string): string {
  const cleaned = value.replace(/[^A-Za-z0-9_.+-]/g, '_').replace(/^[.-]+/, '_');
  return cleaned.length > 0 ? cleaned : '_';
}

/** `vm-<ID>-fleece-<N>` plus `.<format>` on path-based storages, as Proxmox names them. */
export function fleeceImageName(vmId: string, n: number, format: ImageFormat, pathBased: boolean): string {
  return `vm-${safeNamePart(vmId)}-fleece-${n}${pathBased ? `.${format}` : ''}`;
}

export const FLEECE_NAME_PATTERN = /^vm-(.+)-fleece-(\d+)(?:\.(qcow2|raw))?$/;

/** UTC timestamp usable as a folder name on every filesystem (no colons). */
export function archiveTimestamp(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
}

export function chooseFleecingFormat(choice: FleecingFormatChoice, storage: FleecingStorageInfo): ImageFormat {
  if (choice === 'auto') return storage.formats.includes('qcow2') ? 'qcow2' : (storage.formats[0] ?? 'raw');
  if (!storage.formats.includes(choice)) {
    throw new Error(`fleecing storage ${storage.spec} cannot hold ${choice} images (it supports ${storage.formats.join(', ')})`);
  }
  return choice;
}

/** Short random id for node and job names: QEMU node names are limited to 31 characters. */
export function newRunId(random: () => number = Math.random): string {
  return Array.from({ length: 8 }, () => Math.floor(random() * 16).toString(16)).join('');
}

export interface PlanInput {
  vm: VmDetails;
  runId: string;
  startedAt: Date;
  /** Null: no fleecing for any disk. */
  fleecing: { storage: FleecingStorageInfo; format: FleecingFormatChoice } | null;
  targetDir: string;
}

export function planBackup(input: PlanInput): BackupPlan {
  const { vm, runId } = input;
  const prefix = `shear-${runId}`;
  const format = input.fleecing ? chooseFleecingFormat(input.fleecing.format, input.fleecing.storage) : null;
  const usedFiles = new Set<string>();
  let fleeceCounter = 0;

  const disks = vm.disks.map((disk, index): DiskPlan => {
    const node = (suffix: string) => `${prefix}-${index}-${suffix}`;
    let fleece: DiskPlan['fleece'] = null;
    // Only a data disk under a device can be fleeced: the filter goes in by qom-set on the device.
    if (input.fleecing && format && disk.role === 'disk' && disk.qomPath !== '') {
      const { storage } = input.fleecing;
      const imageName = fleeceImageName(vm.id, fleeceCounter++, format, storage.pathBased);
      fleece = { imageName, imagePath: storage.imagePath(imageName), format, node: node('fl'), cbwNode: node('cbw'), snapNode: node('snap') };
    }
    let targetFile = `${safeNamePart(disk.device)}.qcow2`;
    for (let n = 2; usedFiles.has(targetFile); n++) targetFile = `${safeNamePart(disk.device)}-${n}.qcow2`;
    usedFiles.add(targetFile);
    return { index, disk, fleece, targetNode: node('tgt'), targetFile, jobId: `${prefix}-${index}` };
  });

  const vmDir = `${input.targetDir.replace(/\/+$/, '')}/${safeNamePart(vm.id)}`;
  const stamp = archiveTimestamp(input.startedAt);
  return {
    runId,
    vmId: vm.id,
    disks,
    fleecingStorage: input.fleecing?.storage.spec ?? null,
    archiveDir: `${vmDir}/${stamp}`,
    partialDir: `${vmDir}/${stamp}.partial`,
  };
}
