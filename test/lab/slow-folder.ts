/**
 * A really slow backup target for the lab: a folder mounted through `slowfs` (slowfs/slowfs.c),
 * a FUSE passthrough whose writes go at a set speed, stall, or fail with EIO on demand. Unlike
 * QEMU's throttle filter, it holds QEMU's writing thread in the kernel for as long as the data
 * takes, as an NFS or SMB share on a small NAS, sshfs or a USB disk does.
 *
 * slowfs is compiled from source on first use (gcc and libfuse3's headers) into `.cache/slowfs/`,
 * keyed by the source's hash. It runs in the foreground as a lab process (dies with the test
 * process) with `auto_unmount`, so a killed run leaves no dead mount behind.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnLabProcess, type LabProcess } from './processes.js';
import { MissingToolError, requireFile, requireTool, sleep } from './tools.js';

const SOURCE = join(import.meta.dirname, 'slowfs', 'slowfs.c');
const CACHE = join(import.meta.dirname, '..', '..', '.cache', 'slowfs');
const PACKAGES = 'gcc libc6-dev pkg-config libfuse3-dev fuse3';
// FUSE_SUPER_MAGIC: what statfs reports once the mount is in place.
const FUSE_MAGIC = 0x65735546;

export type SlowFolderMode = 'normal' | 'stall' | 'eio';

export interface SlowFolder {
  /** The mount point: give this to Shear as the target folder. */
  path: string;
  /** Where the bytes really land (the passthrough's source folder). */
  backingPath: string;
  /** Changes the speed (bytes per second; 0 = unlimited) and mode; slowfs reads it within 50 ms. */
  set(o: { bytesPerSecond?: number; mode?: SlowFolderMode }): Promise<void>;
  /** Unmounts (the daemon's SIGTERM handler) and stops the daemon. Idempotent. */
  stop(): Promise<void>;
}

/** Builds slowfs if this source has not been built yet; returns the binary's path. */
export function buildSlowfs(): string {
  const source = readFileSync(SOURCE);
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 16);
  const binary = join(CACHE, `slowfs-${hash}`);
  if (existsSync(binary)) return binary;
  const gcc = requireTool('gcc', PACKAGES);
  const pkgConfig = requireTool('pkg-config', PACKAGES);
  let flags: string[];
  try {
    flags = execFileSync(pkgConfig, ['--cflags', '--libs', 'fuse3'], { encoding: 'utf8' }).trim().split(/\s+/);
  } catch {
    throw new MissingToolError(`lab: libfuse3's headers are missing (pkg-config fuse3). Install them with: apt-get install -y ${PACKAGES}`);
  }
  mkdirSync(CACHE, { recursive: true });
  // Built under a private name and renamed: test files that build at once never see half a binary.
  const partial = `${binary}.${process.pid}.partial`;
  execFileSync(gcc, ['-O2', '-Wall', '-o', partial, SOURCE, ...flags, '-lpthread'], { stdio: 'pipe' });
  renameSync(partial, binary);
  return binary;
}

function isFuseMount(path: string): boolean {
  try {
    return statfsSync(path).type === FUSE_MAGIC;
  } catch {
    return false;
  }
}

/** Mounts `<parentDir>/<name>` as a slow folder backed by `<parentDir>/<name>.backing`. */
export async function mountSlowFolder(parentDir: string, name: string, o: { bytesPerSecond: number }): Promise<SlowFolder> {
  const binary = buildSlowfs();
  requireTool('fusermount3', 'fuse3');
  requireFile('/dev/fuse', 'fuse3 (and a kernel with FUSE)');
  const path = join(parentDir, name);
  const backingPath = join(parentDir, `${name}.backing`);
  const control = join(parentDir, `${name}.control`);
  mkdirSync(path, { recursive: true });
  mkdirSync(backingPath, { recursive: true });
  let state: { bytesPerSecond: number; mode: SlowFolderMode } = { bytesPerSecond: o.bytesPerSecond, mode: 'normal' };
  const writeControl = () => writeFileSync(control, `rate=${state.bytesPerSecond}\nmode=${state.mode}\n`);
  writeControl();
  const proc: LabProcess = await spawnLabProcess(`slowfs ${name}`, binary, [backingPath, path, '--control', control, '-f', '-o', 'auto_unmount'], {
    logPath: join(parentDir, `${name}.slowfs.log`),
  });
  const deadline = Date.now() + 10_000;
  while (!isFuseMount(path)) {
    const exit = proc.exitStatus();
    if (exit || Date.now() > deadline) {
      await proc.stop({ graceMs: 1_000 }).catch(() => undefined);
      throw new Error(`lab: slowfs did not mount ${path}${exit ? ' (it exited)' : ' within 10 s'}:\n${proc.logTail()}`);
    }
    await sleep(20);
  }
  let stopping: Promise<void> | null = null;
  return {
    path,
    backingPath,
    set: async (change) => {
      state = { ...state, ...change };
      writeControl();
      // slowfs looks at the control file's mtime at most every 50 ms.
      await sleep(120);
    },
    stop: () => {
      stopping ??= (async () => {
        // A stalled folder would hold its writers (and so the unmount) forever.
        state = { bytesPerSecond: 0, mode: 'normal' };
        writeControl();
        await proc.stop({ graceMs: 5_000 });
        if (isFuseMount(path)) execFileSync(requireTool('fusermount3', 'fuse3'), ['-u', '-z', path]);
      })();
      return stopping;
    },
  };
}
