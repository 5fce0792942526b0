import { join } from 'node:path';
import { expect } from 'vitest';
import { guestRead, guestWrite } from '../lab/guest-io.js';
import { imagePatternMatches, imageVirtualSize } from '../lab/image.js';
import type { LabVm } from '../lab/qemu.js';
import { MiB, readManifest } from './backup-harness.js';

/**
 * The data story every backup test tells: 0x11 written before the backup (near
 * the start and the end of each data disk, zeros in a third place), then during
 * the copy 0x22 over the old data at the end (the not-yet-copied part) and 0x33
 * over the zeros. The archive must show the first, the live disk the second.
 */
const dataDisks = (vm: LabVm) => vm.disks.filter((d) => d.bus !== 'efivars');
const tail = (size: number) => size - 12 * MiB;

export async function seedBeforeBackup(vm: LabVm): Promise<void> {
  for (const disk of dataDisks(vm)) {
    await guestWrite(vm, disk.id, { offset: 0, length: 2 * MiB, pattern: 0x11 });
    await guestWrite(vm, disk.id, { offset: tail(disk.sizeBytes), length: 8 * MiB, pattern: 0x11 });
    // Explicit zeros: a VM reused by several tests still holds the last run's writes here.
    await guestWrite(vm, disk.id, { offset: 4 * MiB, length: 1 * MiB, pattern: 0 });
  }
}

export async function writeDuringCopy(vm: LabVm): Promise<void> {
  for (const disk of dataDisks(vm)) {
    await guestWrite(vm, disk.id, { offset: tail(disk.sizeBytes), length: 8 * MiB, pattern: 0x22 });
    await guestWrite(vm, disk.id, { offset: 4 * MiB, length: 1 * MiB, pattern: 0x33 });
  }
}

/** The live disks carry the writes made during the copy (they succeeded). */
export async function expectLiveWrites(vm: LabVm): Promise<void> {
  for (const disk of dataDisks(vm)) {
    await guestRead(vm, disk.id, { offset: tail(disk.sizeBytes), length: 8 * MiB, pattern: 0x22 });
    await guestRead(vm, disk.id, { offset: 4 * MiB, length: 1 * MiB, pattern: 0x33 });
  }
}

export async function expectPointInTime(vm: LabVm, archiveDir: string): Promise<void> {
  const manifest = readManifest(archiveDir);
  for (const disk of dataDisks(vm)) {
    const entry = manifest.disks.find((d) => d.device === disk.id);
    expect(entry, `manifest entry for ${disk.id}`).toBeDefined();
    await expectPointInTimeImage(join(archiveDir, entry?.file ?? ''), 'qcow2', disk.sizeBytes, disk.id);
  }
  await expectLiveWrites(vm);
}

/** One image (an archive's, or a restored one) holds the point-in-time content of a data disk. */
export async function expectPointInTimeImage(file: string, format: 'qcow2' | 'raw', sizeBytes: number, what: string): Promise<void> {
  const has = (offset: number, length: number, pattern: number) => imagePatternMatches(file, { offset, length, pattern }, { format });
  expect(await imageVirtualSize(file, { format })).toBe(sizeBytes);
  expect(await has(0, 2 * MiB, 0x11), `${what}: data written before`).toBe(true);
  expect(await has(tail(sizeBytes), 8 * MiB, 0x11), `${what}: old data, not the overwrite`).toBe(true);
  expect(await has(4 * MiB, 1 * MiB, 0), `${what}: nothing written during the copy`).toBe(true);
}
