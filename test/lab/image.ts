/**
 * Checks on image files from outside QEMU (what a backup target or a disk holds) and on the
 * block graph of a lab VM.
 */
import { execFile } from 'node:child_process';
import type { LabVm } from './qemu.js';
import { qemuBinaries } from './qemu.js';
import { checkPatternRange, patternCommand, qemuIoVerdict, type PatternRange } from './qemu-io-output.js';
import type { DiskFormat } from './vm-spec.js';

interface ToolResult {
  code: number | null;
  stdout: string;
  /** stdout then stderr, for verdicts and error messages. */
  output: string;
}

/** Runs a tool and keeps its exit code: qemu-io exits 1 on a verification failure, which is a result here. */
function runTool(command: string, args: string[]): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(err);
      resolve({ code: err ? (err.code as number) : 0, stdout, output: `${stdout}${stderr}` });
    });
  });
}

/**
 * True if every byte of the range in the image equals `pattern`, read by the standalone
 * `qemu-io -r -U -f FMT` (read-only, sharing the image with a QEMU that may hold it open).
 * The format is required: probing a raw image for a format is unsafe and ambiguous.
 *
 * Reading an image a running QEMU writes to: flush first (guestFlush), or qcow2 clusters
 * written since the last flush read as zeros. Read a backup target only after its
 * `blockdev-del` (its metadata is cached until then).
 */
export async function imagePatternMatches(
  path: string,
  range: PatternRange,
  options: { format: DiskFormat },
): Promise<boolean> {
  const where = `lab image ${path}`;
  checkPatternRange(range, where);
  const command = patternCommand('read', range);
  const { qemuIo } = qemuBinaries();
  const result = await runTool(qemuIo, ['-r', '-U', '-f', options.format, path, '-c', command]);
  const verdict = qemuIoVerdict(result.output, 'read', range);
  if (verdict.status === 'ok' && result.code === 0) return true;
  if (verdict.status === 'mismatch') return false;
  throw new Error(`${where}: qemu-io "${command}" exited ${String(result.code)} without a verdict:\n${result.output.trim()}`);
}

/** The image's virtual size in bytes (`qemu-img info -U`, so an image in use works too). */
export async function imageVirtualSize(path: string, options: { format?: DiskFormat } = {}): Promise<number> {
  const { qemuImg } = qemuBinaries();
  const formatArgs = options.format ? ['-f', options.format] : [];
  const result = await runTool(qemuImg, ['info', '-U', ...formatArgs, '--output=json', path]);
  if (result.code !== 0) throw new Error(`lab: qemu-img info ${path} failed:\n${result.output.trim()}`);
  const info = JSON.parse(result.stdout) as { 'virtual-size'?: unknown };
  const size = info['virtual-size'];
  if (typeof size !== 'number') throw new Error(`lab: qemu-img info ${path}: no virtual-size`);
  return size;
}

/** Node names in the VM's block graph (`query-named-block-nodes`, flat). */
export async function listBlockNodes(vm: LabVm): Promise<string[]> {
  const nodes = await vm.qmp((qmp) => qmp.execute('query-named-block-nodes', { flat: true }));
  return nodes.map((n) => n['node-name']);
}
