/**
 * Starts tiny QEMU VMs (TCG, 128 MiB, no OS) from a {@link VmSpec}: images, command line,
 * a log of QEMU's stdout/stderr, and a wait until the QMP socket answers.
 *
 * Which QEMU: `SHEAR_QEMU_BIN` (default `qemu-system-x86_64` on PATH), with `-L DIR` for each
 * dir in `SHEAR_QEMU_DATADIR` (colon-separated; for a second QEMU unpacked from a .deb into a
 * folder — the wrapper made by .ci/fetch-qemu-backports passes its own `-L` and needs none);
 * `SHEAR_QEMU_IMG` / `SHEAR_QEMU_IO` likewise for the image tools.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { QmpClient } from '../../electron/engine/qmp/client.js';
import type { QmpVersion } from '../../electron/engine/qmp/types.js';
import { describeExit, spawnLabProcess, type LabProcess } from './processes.js';
import { withLocalQmp } from './qmp.js';
import { requireFile, requireTool, sleep, tempDir } from './tools.js';
import {
  buildQemuArgs,
  qdevPathFor,
  validateVmSpec,
  type DiskSpec,
  type LabDisk,
  type VmSpec,
} from './vm-spec.js';

const run = promisify(execFile);

export const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
export const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';

export interface QemuBinaries {
  qemu: string;
  qemuImg: string;
  qemuIo: string;
  /** Each passed as `-L`; empty to use the binary's built-in data dir. */
  dataDirs: string[];
}

/** The QEMU binaries the lab uses, from the environment (see the file comment). */
export function qemuBinaries(): QemuBinaries {
  const env = (name: string) => {
    const value = process.env[name];
    return value !== undefined && value !== '' ? value : null;
  };
  return {
    qemu: requireTool(env('SHEAR_QEMU_BIN') ?? 'qemu-system-x86_64', 'qemu-system-x86'),
    qemuImg: requireTool(env('SHEAR_QEMU_IMG') ?? 'qemu-img', 'qemu-utils'),
    qemuIo: requireTool(env('SHEAR_QEMU_IO') ?? 'qemu-io', 'qemu-utils'),
    dataDirs: (env('SHEAR_QEMU_DATADIR') ?? '').split(':').filter((d) => d !== ''),
  };
}

export interface LabVm {
  name: string;
  pid: number;
  qmpSocket: string;
  /** The second monitor, if the spec asked for one (`probeMonitor`). */
  probeSocket?: string;
  /** The guest-agent socket, if the spec asked for one. */
  qgaSocket?: string;
  dir: string;
  /** QEMU's stdout and stderr (qemu-io output from HMP lands here). */
  logPath: string;
  /** From the QMP greeting. */
  qemuVersion: QmpVersion['qemu'];
  disks: LabDisk[];
  /** The disk with this id, or a clear error. */
  disk(id: string): LabDisk;
  /** A short local QMP session: connect, run `fn`, close (QEMU serves one client at a time). */
  qmp<T>(fn: (qmp: QmpClient) => Promise<T>): Promise<T>;
  /** SIGTERM (QEMU exits cleanly), SIGKILL after 3 s; removes the VM's dir if it owns it. */
  stop(): Promise<void>;
  /** The QEMU process, for tests of the lab itself. */
  process: LabProcess;
}

export interface StartVmOptions {
  /** Put the VM's files in `<parentDir>/<name>` (removed by the owner of parentDir). */
  parentDir?: string;
}

// sun_path holds 108 bytes including the terminating NUL.
const MAX_SOCKET_PATH = 107;

async function createImage(bins: QemuBinaries, spec: DiskSpec, path: string): Promise<number> {
  const format = spec.format ?? (spec.bus === 'efivars' ? 'raw' : 'qcow2');
  if (spec.bus !== 'efivars') {
    await run(bins.qemuImg, ['create', '-q', '-f', format, path, String(spec.sizeBytes)]);
    return spec.sizeBytes;
  }
  requireFile(OVMF_VARS, 'ovmf');
  if (format === 'raw') await copyFile(OVMF_VARS, path);
  else await run(bins.qemuImg, ['convert', '-q', '-f', 'raw', '-O', format, OVMF_VARS, path]);
  return (await stat(OVMF_VARS)).size;
}

async function waitForQmp(proc: LabProcess, socket: string, timeoutMs: number): Promise<QmpVersion['qemu']> {
  const deadline = Date.now() + timeoutMs;
  let lastError = 'socket not created yet';
  while (Date.now() < deadline) {
    const exit = proc.exitStatus();
    if (exit) throw new Error(`lab: ${proc.label} ${describeExit(exit)} during start:\n${proc.logTail()}`);
    try {
      return await withLocalQmp(
        socket,
        async (qmp) => {
          await qmp.execute('query-status');
          return qmp.greeting.version.qemu;
        },
        { label: proc.label, greetingTimeoutMs: 2_000 },
      );
    } catch (err) {
      lastError = (err as Error).message;
    }
    await sleep(50);
  }
  throw new Error(`lab: ${proc.label}: QMP did not answer within ${timeoutMs} ms (${lastError}):\n${proc.logTail()}`);
}

/** Creates the VM's images and starts it; resolves when its QMP socket answers. */
export async function startVm(spec: VmSpec, options: StartVmOptions = {}): Promise<LabVm> {
  validateVmSpec(spec);
  const bins = qemuBinaries();
  const ownDir = options.parentDir === undefined;
  const dir = ownDir ? await tempDir(`shear-vm-${spec.name}-`) : join(options.parentDir as string, spec.name);
  let proc: LabProcess | null = null;
  try {
    if (!ownDir) await mkdir(dir);
    const qmpSocket = join(dir, `${spec.name}.qmp`);
    const qgaSocket = spec.guestAgent ? join(dir, `${spec.name}.qga`) : null;
    const probeSocket = spec.probeMonitor ? join(dir, `${spec.name}.probe.qmp`) : null;
    for (const socket of [qmpSocket, qgaSocket, probeSocket]) {
      if (socket !== null && Buffer.byteLength(socket) > MAX_SOCKET_PATH) {
        throw new Error(`lab: socket path too long for a UNIX socket (${socket}); set TMPDIR to a shorter dir`);
      }
    }

    const disks: LabDisk[] = await Promise.all(
      spec.disks.map(async (d): Promise<LabDisk> => {
        const format = d.format ?? (d.bus === 'efivars' ? 'raw' : 'qcow2');
        const path = join(dir, `${d.id}.${format}`);
        const sizeBytes = await createImage(bins, d, path);
        return {
          id: d.id,
          bus: d.bus,
          format,
          sizeBytes,
          path,
          qdevPath: qdevPathFor(d),
          blockBackend: d.bus === 'virtio' || d.bus === 'nvme' ? null : d.bus === 'virtio-legacy' ? 'virtio0' : `drive-${d.id}`,
          nodeName: d.bus === 'virtio' && d.throttleBytesPerSecond ? `${d.id}-throttle` : d.bus === 'virtio' || d.bus === 'nvme' ? `${d.id}-fmt` : null,
        };
      }),
    );
    const hasEfivars = disks.some((d) => d.bus === 'efivars');
    const args = buildQemuArgs(spec, {
      qmpSocket,
      qgaSocket,
      probeSocket,
      pidFile: join(dir, `${spec.name}.pid`),
      disks,
      ovmfCode: hasEfivars ? requireFile(OVMF_CODE, 'ovmf') : null,
      dataDirs: bins.dataDirs,
    });

    const logPath = join(dir, 'qemu.log');
    const started = await spawnLabProcess(`qemu ${spec.name}`, bins.qemu, args, {
      logPath,
      // HMP qemu-io prints its results on QEMU's stdout; guest-io.ts reads them from the log.
      unbufferedOutput: true,
    });
    proc = started;
    // TCG start-up is quick, but two cores may be busy with other VMs booting OVMF.
    const qemuVersion = await waitForQmp(started, qmpSocket, 30_000);

    let stopping: Promise<void> | null = null;
    const vm: LabVm = {
      name: spec.name,
      pid: started.pid,
      qmpSocket,
      ...(qgaSocket !== null ? { qgaSocket } : {}),
      ...(probeSocket !== null ? { probeSocket } : {}),
      dir,
      logPath,
      qemuVersion,
      disks,
      disk: (id: string) => {
        const disk = disks.find((d) => d.id === id);
        if (!disk) throw new Error(`lab VM ${spec.name} has no disk ${JSON.stringify(id)} (has: ${disks.map((d) => d.id).join(', ')})`);
        return disk;
      },
      qmp: (fn) => withLocalQmp(qmpSocket, fn, { label: `lab ${spec.name}` }),
      stop: () => {
        stopping ??= (async () => {
          await started.stop({ graceMs: 3_000 });
          if (ownDir) await rm(dir, { recursive: true, force: true });
        })();
        return stopping;
      },
      process: started,
    };
    return vm;
  } catch (err) {
    // Report the start error, not a teardown error that may follow from it.
    await proc?.stop({ graceMs: 1_000 }).catch(() => {});
    if (ownDir) await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
