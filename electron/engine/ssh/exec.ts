import type { ClientChannel } from 'ssh2';
import type { SshConnection } from './connect.js';
import { SshError } from './errors.js';
import { shellCommand } from './quote.js';

export interface ExecOptions {
  /** Written to the command's stdin, then stdin is closed. */
  stdin?: string | Buffer;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Called with stdout chunks as they arrive (long commands, progress). */
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** Exit status; null when the command died from a signal or the channel closed early. */
  code: number | null;
  signal: string | null;
}

/** A remote command that did not exit 0, with everything needed to explain why. */
export class RemoteCommandError extends Error {
  constructor(
    readonly host: string,
    readonly argv: readonly string[],
    readonly result: ExecResult,
  ) {
    const status = result.code !== null ? `exit code ${result.code}` : `signal ${result.signal ?? 'unknown'}`;
    const detail = result.stderr.trim() || result.stdout.trim();
    super(`${host}: ${argv[0] ?? ''} failed (${status})${detail ? `: ${detail.slice(0, 2000)}` : ''}`);
    this.name = 'RemoteCommandError';
  }
}

export class ExecAbortedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExecAbortedError';
  }
}

/**
 * Whether a failed command may still have done its work (the link died under it, or it was
 * stopped on a timeout or cancel): whatever it creates must then be undone as if it had.
 */
export function outcomeUnknown(err: unknown): boolean {
  return err instanceof ExecAbortedError || (err instanceof SshError && err.outcomeUnknown) || err instanceof UncertainOutcomeError;
}

/** A step whose command may have taken effect hands the caller the way to undo it anyway. */
export class UncertainOutcomeError extends Error {
  constructor(
    message: string,
    readonly undo: () => Promise<void>,
    options: { cause: unknown },
  ) {
    super(message, options);
    this.name = 'UncertainOutcomeError';
  }
}

/**
 * sshd gives every exec channel its own session and process group, but a
 * "signal" request reaches only the login shell, and closing the channel leaves
 * a child that does not touch its pipes running (a `sleep`, a `qemu-img
 * convert`). So the command first reports its PID on stdout's first line, then
 * execs the real program; to stop it we kill that PID's whole process group.
 * Both scripts are constants; user data travels only as quoted positional arguments.
 */
const REPORT_PID_THEN_EXEC = 'echo "$$"; exec "$@"';
const KILL_PROCESS_GROUP = 'pg=$(ps -o pgid= -p "$1" | tr -d " "); [ -n "$pg" ] && pkill -KILL -g "$pg"';

async function killRemote(conn: SshConnection, pid: number): Promise<void> {
  await new Promise<void>((resolve) => {
    const fail = (err: Error) => {
      conn.log('warn', `${conn.label}: could not stop remote process ${pid}: ${err.message}`);
      resolve();
    };
    try {
      conn.client.exec(shellCommand(['sh', '-c', KILL_PROCESS_GROUP, 'shear-kill', String(pid)]), (err, channel) => {
        if (err) return fail(err);
        channel.on('close', () => resolve());
        channel.resume();
        channel.stderr.resume();
      });
    } catch (err) {
      // ssh2 throws synchronously once the connection is gone; the command died with it.
      fail(err as Error);
    }
  });
}

/**
 * Runs an argument array on the host. The command line is built by the one
 * quoting function, so each argument reaches the program exactly as given.
 * Resolves with any exit status; use `execChecked` to fail on non-zero.
 */
export function exec(conn: SshConnection, argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  const command = shellCommand(['sh', '-c', REPORT_PID_THEN_EXEC, 'shear-exec', ...argv]);
  const what = `${conn.label}: ${argv[0] ?? ''}`;
  if (options.signal?.aborted) return Promise.reject(new ExecAbortedError(`${what}: cancelled before it started`));
  return new Promise<ExecResult>((resolve, reject) => {
    conn.client.exec(command, (err, channel: ClientChannel) => {
      if (err) {
        reject(new SshError('closed', conn.label, `cannot start ${argv[0] ?? 'command'}: ${err.message}`));
        return;
      }
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      let code: number | null = null;
      let signal: string | null = null;
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      let pid: number | null = null;
      let pidLine = '';

      const finish = (error?: Error) => {
        if (settled) return;
        settled = true;
        if (timer) clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        if (error ?? stopReason) reject(error ?? stopReason);
        else resolve({ stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8'), code, signal });
      };
      // Stopping a remote command: ask sshd to signal it, then close the channel,
      // which also closes its stdin/stdout so it cannot linger on a pipe.
      // Once we decide to stop the command, its exit (from our kill) is reported as that decision.
      let stopReason: Error | null = null;
      const kill = (reason: Error) => {
        if (settled || stopReason) return;
        stopReason = reason;
        const stopped = pid !== null ? killRemote(conn, pid) : Promise.resolve();
        void stopped.finally(() => {
          channel.close();
          finish(reason);
        });
      };
      const onAbort = () => kill(new ExecAbortedError(`${what}: cancelled`));

      if (options.timeoutMs !== undefined) {
        timer = setTimeout(() => kill(new ExecAbortedError(`${what}: timed out after ${options.timeoutMs} ms`)), options.timeoutMs);
      }
      options.signal?.addEventListener('abort', onAbort, { once: true });

      channel.on('data', (chunk: Buffer) => {
        if (pid === null) {
          pidLine += chunk.toString('latin1');
          const nl = pidLine.indexOf('\n');
          if (nl < 0) return;
          pid = Number(pidLine.slice(0, nl));
          chunk = Buffer.from(pidLine.slice(nl + 1), 'latin1');
          if (chunk.length === 0) return;
        }
        stdout.push(chunk);
        options.onStdout?.(chunk);
      });
      channel.stderr.on('data', (chunk: Buffer) => {
        stderr.push(chunk);
        options.onStderr?.(chunk);
      });
      channel.on('exit', (exitCode: number | null, exitSignal?: string) => {
        code = exitCode ?? null;
        signal = exitSignal ?? null;
      });
      // No exit status at all: the connection died under the command; its outcome is unknown.
      channel.on('close', () =>
        finish(code === null && signal === null && !stopReason
          ? new SshError('closed', conn.label, `connection lost while ${argv[0] ?? 'a command'} ran; its outcome is unknown`, { outcomeUnknown: true })
          : undefined));
      channel.on('error', (e: Error) => finish(new SshError('closed', conn.label, `${argv[0] ?? 'command'}: ${e.message}`)));
      if (options.stdin !== undefined) channel.end(options.stdin);
      else channel.end();
    });
  });
}

/** Like `exec`, but a non-zero exit is an error naming the host, the program and its stderr. */
export async function execChecked(conn: SshConnection, argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  const result = await exec(conn, argv, options);
  if (result.code !== 0) throw new RemoteCommandError(conn.label, argv, result);
  return result;
}
