/**
 * Disk I/O "from the guest" without a guest OS: HMP `qemu-io -d <QOM path of the device>`
 * through QMP `human-monitor-command`. That opens the device's own BlockBackend, so the I/O
 * takes the same path as the guest's: through a copy-before-write filter once one is
 * inserted. Never address a node name here: that opens a new handle BELOW the filter, and a
 * fleecing test would pass while proving nothing.
 *
 * `-d <QOM path>` works for every bus and for QEMU 7.2 and 10.0 alike:
 *  - virtio-blk: `/machine/peripheral/<id>/virtio-backend` (the bare `<id>` and
 *    `/machine/peripheral/<id>` are the PCI proxy: "Device does not have a block device backend");
 *  - scsi-hd: `/machine/peripheral/<id>` (the bare id and `drive-<id>` work too);
 *  - UEFI vars: `/machine/system.flash1`. The pflash device keeps its own copy of the vars in
 *    RAM, loaded at start: qemu-io writes reach the image (and a backup) but not the firmware.
 *
 * How a read is verified: qemu-io prints its verdict on QEMU's stdout, not into the QMP
 * reply, and HMP drops its return code. QEMU runs under `stdbuf -o0 -e0` with stdout and
 * stderr appended to one log file (processes.ts), and HMP qemu-io is synchronous, so when
 * the QMP reply arrives the text is already in the file. Inside the same QMP session (QEMU
 * serves one client, so no other monitor command can interleave) we note the log size
 * before the command and read what was appended after it. The verdict needs positive
 * evidence (qemu-io-output.ts); a non-empty HMP reply (bad device, quoting) is an error.
 */
import { open, stat } from 'node:fs/promises';
import type { QmpClient } from '../../electron/engine/qmp/client.js';
import type { LabVm } from './qemu.js';
import {
  checkPatternRange,
  patternCommand,
  qemuIoVerdict,
  type PatternRange,
  type QemuIoVerdict,
} from './qemu-io-output.js';
import { sleep } from './tools.js';
import type { LabDisk } from './vm-spec.js';

export type { PatternRange } from './qemu-io-output.js';

/** A guest read found other bytes than the expected pattern. */
export class GuestPatternMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GuestPatternMismatchError';
  }
}

/**
 * Quotes one HMP argument. HMP's string parser takes `"..."` with the escapes `\\`, `\"`,
 * `\'`, `\n`, `\r`; single quotes are NOT quotes to it ("extraneous characters at the end
 * of line"). Control characters are refused rather than escaped: no caller needs them.
 */
export function hmpQuote(value: string): string {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value)) throw new Error(`hmpQuote: control character in ${JSON.stringify(value)}`);
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** The HMP command line that runs one qemu-io command on a disk's device. */
export function hmpQemuIoCommand(disk: LabDisk, qemuIoCommand: string): string {
  return `qemu-io -d ${hmpQuote(disk.qdevPath)} ${hmpQuote(qemuIoCommand)}`;
}

async function readFrom(path: string, offset: number): Promise<string> {
  const file = await open(path, 'r');
  try {
    const { size } = await file.stat();
    const buffer = Buffer.alloc(Math.max(0, size - offset));
    await file.read(buffer, 0, buffer.length, offset);
    return buffer.toString('utf8');
  } finally {
    await file.close();
  }
}

/**
 * Runs one qemu-io command through the disk's device and returns what it printed.
 * `isComplete` says when the output holds a verdict; we wait briefly for it (only a safety
 * margin: with unbuffered stdout the text is there before the QMP reply).
 */
async function runOnDevice(
  vm: LabVm,
  disk: LabDisk,
  qemuIoCommand: string,
  isComplete: (output: string) => boolean,
): Promise<string> {
  const where = `lab ${vm.name} disk ${disk.id}: qemu-io "${qemuIoCommand}"`;
  return vm.qmp(async (qmp: QmpClient) => {
    const before = (await stat(vm.logPath)).size;
    const reply = await qmp.execute('human-monitor-command', {
      'command-line': hmpQemuIoCommand(disk, qemuIoCommand),
    });
    if (reply.trim() !== '') throw new Error(`${where} refused by HMP: ${reply.trim()}`);
    const deadline = Date.now() + 2_000;
    let output = await readFrom(vm.logPath, before);
    while (!isComplete(output) && Date.now() < deadline) {
      await sleep(20);
      output = await readFrom(vm.logPath, before);
    }
    return output;
  });
}

function diskAndRange(vm: LabVm, diskId: string, range: PatternRange, op: string): LabDisk {
  const disk = vm.disk(diskId);
  const where = `lab ${vm.name} disk ${diskId}: guest ${op}`;
  checkPatternRange(range, where);
  // qemu-io would only say "Input/output error" for a request past the end.
  if (range.offset + range.length > disk.sizeBytes) {
    throw new Error(`${where} of ${range.length} bytes at ${range.offset} ends past the disk (${disk.sizeBytes} bytes)`);
  }
  return disk;
}

async function patternIo(vm: LabVm, diskId: string, op: 'read' | 'write', range: PatternRange): Promise<QemuIoVerdict> {
  const disk = diskAndRange(vm, diskId, range, op);
  const command = patternCommand(op, range);
  const output = await runOnDevice(vm, disk, command, (out) => qemuIoVerdict(out, op, range).status !== 'incomplete');
  const verdict = qemuIoVerdict(output, op, range);
  if (verdict.status === 'failed' || verdict.status === 'incomplete') {
    throw new Error(
      `lab ${vm.name} disk ${diskId}: qemu-io "${command}" gave no ${verdict.status === 'failed' ? 'success' : 'verdict'}; ` +
        `its output in ${vm.logPath}:\n${output.trim() || '(nothing)'}`,
    );
  }
  return verdict;
}

/** Fills `length` bytes at `offset` with `pattern`, as a guest write through the device. */
export async function guestWrite(vm: LabVm, diskId: string, range: PatternRange): Promise<void> {
  const verdict = await patternIo(vm, diskId, 'write', range);
  if (verdict.status !== 'ok') throw new Error(`lab ${vm.name} disk ${diskId}: guest write failed`);
}

/** True if every byte of the range, read through the device, equals `pattern`. */
export async function guestPatternMatches(vm: LabVm, diskId: string, range: PatternRange): Promise<boolean> {
  return (await patternIo(vm, diskId, 'read', range)).status === 'ok';
}

/** Reads the range through the device and throws {@link GuestPatternMismatchError} unless it holds `pattern`. */
export async function guestRead(vm: LabVm, diskId: string, range: PatternRange): Promise<void> {
  const verdict = await patternIo(vm, diskId, 'read', range);
  if (verdict.status === 'mismatch') {
    throw new GuestPatternMismatchError(
      `lab ${vm.name} disk ${diskId}: expected 0x${range.pattern.toString(16)} in ${range.length} bytes at ${range.offset}: ${verdict.detail}`,
    );
  }
}

/**
 * Flushes the device's write cache to its image, as a guest's FLUSH would. Needed before
 * reading a qcow2 from outside: its L2 tables stay in QEMU's cache until a flush, so an
 * outside reader sees freshly written clusters as unallocated (zeros). qemu-io prints
 * nothing for a successful flush, so only a printed failure or an HMP error is detected.
 */
export async function guestFlush(vm: LabVm, diskId: string): Promise<void> {
  const disk = vm.disk(diskId);
  const output = await runOnDevice(vm, disk, 'flush', () => true);
  if (/flush failed/.test(output)) throw new Error(`lab ${vm.name} disk ${diskId}: ${output.trim()}`);
}

/**
 * Any other qemu-io command through the device (e.g. `discard 0 1M`, `write -z 0 1M`);
 * returns its printed output for the caller to judge (complete once the HMP reply is in).
 */
export async function guestQemuIo(vm: LabVm, diskId: string, qemuIoCommand: string): Promise<string> {
  return runOnDevice(vm, vm.disk(diskId), qemuIoCommand, () => true);
}
