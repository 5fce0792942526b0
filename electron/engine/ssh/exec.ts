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
 * Runs an argument array on the host. The command line is built by the one
 * quoting function, so each argument reaches the program exactly as given.
 * Resolves with any exit status; use `execChecked` to fail on non-zero.
 */
export function exec(conn: SshConnection, argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  const command = shellCommand(argv);
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

      const finish = (error?: Error) => {
        if (settled) return;
        settled = true;
        if (timer) clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        if (error) reject(error);
        else resolve({ stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8'), code, signal });
      };
      // Stopping a remote command: ask sshd to signal it, then close the channel,
      // which also closes its stdin/stdout so it cannot linger on a pipe.
      const kill = (reason: Error) => {
        try {
          channel.signal('KILL');
        } catch {
          // servers may refuse signals; closing the channel still ends it
        }
        channel.close();
        finish(reason);
      };
      const onAbort = () => kill(new ExecAbortedError(`${what}: cancelled`));

      if (options.timeoutMs !== undefined) {
        timer = setTimeout(() => kill(new ExecAbortedError(`${what}: timed out after ${options.timeoutMs} ms`)), options.timeoutMs);
      }
      options.signal?.addEventListener('abort', onAbort, { once: true });

      channel.on('data', (chunk: Buffer) => {
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
      channel.on('close', () => finish());
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
