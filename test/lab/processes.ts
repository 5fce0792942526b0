/**
 * Long-lived lab processes (sshd, QEMU): spawned with their output in a log file, tracked by
 * PID, and stopped by PID only — never by name, so a developer's own QEMU or sshd is safe.
 *
 * Three layers make sure nothing outlives the test run:
 * 1. `stop()`: SIGTERM, then SIGKILL after a grace period, then wait for the exit.
 * 2. A `process.on('exit')` hook SIGKILLs whatever is still registered and removes the
 *    registered temp dirs (covers a test file that forgot `stop()` or called process.exit).
 * 3. Every process is started under `setpriv --pdeathsig KILL`: the kernel kills it when the
 *    Node process that spawned it dies, even by SIGKILL (a vitest timeout, a ^C), where no
 *    JavaScript runs at all.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { requireTool, sleep } from './tools.js';

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SpawnLabProcessOptions {
  /** stdout and stderr both go here, appended through one file description (order kept). */
  logPath: string;
  env?: NodeJS.ProcessEnv;
  /**
   * Run under `stdbuf -o0 -e0` so stdio output reaches the log the moment it is printed.
   * QEMU prints HMP qemu-io results on stdout; the lab reads them back right after the
   * command's QMP reply and must not depend on how (or whether) QEMU buffers stdout.
   */
  unbufferedOutput?: boolean;
}

export interface StopOptions {
  /** Time between SIGTERM and SIGKILL. */
  graceMs?: number;
  /**
   * Also stop the process's descendants (sshd's per-connection children, which outlive the
   * listener otherwise). They are found through /proc by parent PID, so they are ours too.
   */
  withDescendants?: boolean;
}

export interface LabProcess {
  /** Names the process in errors, e.g. `qemu vm1`. */
  readonly label: string;
  readonly pid: number;
  readonly logPath: string;
  /** Resolves once the process has exited and Node has reaped it (its PID is gone). */
  readonly exited: Promise<ProcessExit>;
  /** The exit status, or null while it runs. */
  exitStatus(): ProcessExit | null;
  /** The end of the log, for error messages. */
  logTail(maxBytes?: number): string;
  /** Idempotent; resolves when the process (and, if asked, its descendants) are gone. */
  stop(options?: StopOptions): Promise<void>;
}

// ---- exit-time safety net -------------------------------------------------------------

const livePids = new Set<number>();
const dirsToRemove = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // One listener for the whole module (not one per lab): 'exit' handlers must be synchronous.
  process.on('exit', () => {
    for (const pid of livePids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    for (const dir of dirsToRemove) {
      try {
        rmSync(dir, { recursive: true, force: true });
      } catch {
        // Best effort: nothing more can be done while exiting.
      }
    }
  });
}

/** Removes `dir` when Node exits, unless the returned function is called first. */
export function removeDirAtExit(dir: string): () => void {
  installExitHook();
  dirsToRemove.add(dir);
  return () => {
    dirsToRemove.delete(dir);
  };
}

// ---- /proc helpers ----------------------------------------------------------------------

export interface ProcStat {
  pid: number;
  ppid: number;
  state: string;
  /** Clock ticks since boot: together with the PID it names one process, not a reused PID. */
  startTime: string;
}

function readProcStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may itself contain ')' or spaces.
  const close = text.lastIndexOf(')');
  const fields = text.slice(close + 2).split(' ');
  // fields[0] is field 3 (state), fields[1] field 4 (ppid), fields[19] field 22 (starttime).
  const state = fields[0];
  const ppid = Number(fields[1]);
  const startTime = fields[19];
  if (state === undefined || startTime === undefined || !Number.isInteger(ppid)) return null;
  return { pid, ppid, state, startTime };
}

function allProcesses(): ProcStat[] {
  const out: ProcStat[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readProcStat(Number(entry));
    if (stat) out.push(stat);
  }
  return out;
}

/** Every live descendant of `pid` (children, grandchildren, ...), from /proc. */
export function descendantsOf(pid: number): ProcStat[] {
  const byParent = new Map<number, ProcStat[]>();
  for (const p of allProcesses()) {
    const siblings = byParent.get(p.ppid) ?? [];
    siblings.push(p);
    byParent.set(p.ppid, siblings);
  }
  const out: ProcStat[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const parent = queue.shift() as number;
    for (const child of byParent.get(parent) ?? []) {
      out.push(child);
      queue.push(child.pid);
    }
  }
  return out;
}

/** True while that very process (same PID and start time) exists and is not a zombie. */
export function isAlive(p: ProcStat): boolean {
  const now = readProcStat(p.pid);
  // A zombie has exited; it only waits to be reaped by its (new) parent.
  return now !== null && now.startTime === p.startTime && now.state !== 'Z';
}

function signalIfSame(p: ProcStat, signal: NodeJS.Signals): void {
  if (!isAlive(p)) return;
  try {
    process.kill(p.pid, signal);
  } catch {
    // Exited in between.
  }
}

async function waitGone(procs: ProcStat[], timeoutMs: number): Promise<ProcStat[]> {
  const deadline = Date.now() + timeoutMs;
  let alive = procs.filter(isAlive);
  while (alive.length > 0 && Date.now() < deadline) {
    await sleep(25);
    alive = alive.filter(isAlive);
  }
  return alive;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// ---- spawning ---------------------------------------------------------------------------

/** The last `maxBytes` of a log file (empty if it does not exist). */
export function readLogTail(logPath: string, maxBytes = 4000): string {
  try {
    const size = statSync(logPath).size;
    const text = readFileSync(logPath);
    return text.subarray(Math.max(0, size - maxBytes)).toString('utf8').trim();
  } catch {
    return '';
  }
}

/**
 * Starts `command args` as a tracked lab process. The PID is the command's own: setpriv and
 * stdbuf exec into it rather than staying as wrappers.
 */
export async function spawnLabProcess(
  label: string,
  command: string,
  args: string[],
  options: SpawnLabProcessOptions,
): Promise<LabProcess> {
  const setpriv = requireTool('setpriv', 'util-linux');
  const prefix = ['--pdeathsig', 'KILL', '--'];
  if (options.unbufferedOutput) prefix.push(requireTool('stdbuf', 'coreutils'), '-o0', '-e0', '--');

  // 'a' = O_APPEND: a reader that tracks the file size sees every byte, never a hole.
  const logFd = openSync(options.logPath, 'a');
  let child: ChildProcess;
  try {
    child = spawn(setpriv, [...prefix, command, ...args], {
      stdio: ['ignore', logFd, logFd],
      env: options.env ?? process.env,
    });
  } finally {
    closeSync(logFd);
  }

  const pid = child.pid;
  if (pid === undefined) {
    const err = await new Promise<Error>((resolve) => child.once('error', resolve));
    throw new Error(`lab: could not start ${label} (${command}): ${err.message}`);
  }

  installExitHook();
  livePids.add(pid);
  let status: ProcessExit | null = null;
  const exited = new Promise<ProcessExit>((resolve) => {
    child.once('exit', (code, signal) => {
      status = { code, signal };
      livePids.delete(pid);
      resolve(status);
    });
  });

  let stopping: Promise<void> | null = null;
  const stop = (stopOptions: StopOptions = {}): Promise<void> => {
    stopping ??= (async () => {
      const graceMs = stopOptions.graceMs ?? 3_000;
      // Collect descendants before the parent goes: afterwards they are re-parented to init.
      const descendants = stopOptions.withDescendants ? descendantsOf(pid) : [];
      if (status === null) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          // Exited in between; 'exit' follows.
        }
      }
      for (const d of descendants) signalIfSame(d, 'SIGTERM');

      if ((await withTimeout(exited, graceMs)) === 'timeout') {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Exited in between.
        }
        if ((await withTimeout(exited, 10_000)) === 'timeout') {
          throw new Error(`lab: ${label} (pid ${pid}) did not exit after SIGKILL`);
        }
      }
      let left = await waitGone(descendants, graceMs);
      for (const d of left) signalIfSame(d, 'SIGKILL');
      left = await waitGone(left, 5_000);
      if (left.length > 0) {
        throw new Error(`lab: descendants of ${label} did not exit: ${left.map((d) => d.pid).join(', ')}`);
      }
    })();
    return stopping;
  };

  return {
    label,
    pid,
    logPath: options.logPath,
    exited,
    exitStatus: () => status,
    logTail: (maxBytes?: number) => readLogTail(options.logPath, maxBytes),
    stop,
  };
}

/** Describes an exit for error messages: "exited with code 255" / "was killed by SIGKILL". */
export function describeExit(exit: ProcessExit): string {
  return exit.signal !== null ? `was killed by ${exit.signal}` : `exited with code ${String(exit.code)}`;
}
