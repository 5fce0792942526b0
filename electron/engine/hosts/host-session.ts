import type { Duplex } from 'node:stream';
import type { Logger } from '../log.js';
import type { QmpTransport } from '../qmp/session.js';
import type { SshConnection } from '../ssh/connect.js';
import { SshError } from '../ssh/errors.js';
import { BATCH_NO_TEMP_DIR, BatchOutputParser, batchArgv } from '../ssh/exec-batch.js';
import { exec, ExecAbortedError, RemoteCommandError, type ExecOptions, type ExecResult } from '../ssh/exec.js';
import { holdWhileConnected, type RemoteHold } from '../ssh/hold.js';
import { openUnixSocket } from '../ssh/tunnel.js';

/**
 * Everything the engine does on a host goes through this: argument-array
 * commands and QMP streams. One SSH connection per host is reused (each new
 * connection costs a handshake); when it drops, the next call reconnects with
 * backoff, so a backup survives a flaky link while QEMU keeps running its jobs.
 */
export interface HostSession {
  readonly label: string;
  readonly log: Logger;
  exec(argv: readonly string[], options?: ExecOptions): Promise<ExecResult>;
  execChecked(argv: readonly string[], options?: ExecOptions): Promise<ExecResult>;
  readonly qmp: QmpTransport;
  /** A remote command that lives as long as the SSH connection (see ssh/hold.ts). */
  hold(argv: readonly string[], readyLine: string): Promise<RemoteHold>;
  /** Called after each successful reconnect (e.g. to take a liveness lock again). */
  onReconnect(listener: () => Promise<void> | void): () => void;
  close(): void;
}

export interface ReconnectPolicy {
  /** Delays between attempts; the last one repeats until `giveUpAfterMs`. */
  delaysMs: number[];
  giveUpAfterMs: number;
}

/** Commands allowed a longer timeout than this are long by nature and never batched. */
const BATCH_MAX_TIMEOUT_MS = 60_000;

export const DEFAULT_RECONNECT: ReconnectPolicy = { delaysMs: [250, 500, 1_000, 2_000, 4_000, 8_000], giveUpAfterMs: 120_000 };

/** Errors after which trying again cannot help: wrong keys, wrong host key. */
function isPermanent(err: unknown): boolean {
  return err instanceof SshError && ['auth', 'key', 'host-key-unknown', 'host-key-changed', 'host-key-revoked', 'dns'].includes(err.kind);
}

export class SshHostSession implements HostSession {
  private conn: SshConnection;
  private reconnecting: Promise<SshConnection> | null = null;
  private gaveUp: { at: number; error: Error } | null = null;
  private readonly listeners = new Set<() => Promise<void> | void>();
  private closed = false;
  readonly qmp: QmpTransport;
  /** What this session opened so far: each is one SSH channel (benchmarks report them per run). */
  readonly stats = { execs: 0, holds: 0, qmpStreams: 0 };

  constructor(
    first: SshConnection,
    private readonly connect: () => Promise<SshConnection>,
    private readonly policy: ReconnectPolicy = DEFAULT_RECONNECT,
  ) {
    this.conn = first;
    this.qmp = {
      label: first.label,
      log: first.log,
      openQmpStream: async (socketPath: string): Promise<Duplex> => {
        this.stats.qmpStreams++;
        return (await openUnixSocket(await this.live(), socketPath)).stream;
      },
    };
  }

  static async open(connect: () => Promise<SshConnection>, policy?: ReconnectPolicy): Promise<SshHostSession> {
    return new SshHostSession(await connect(), connect, policy);
  }

  get label(): string {
    return this.conn.label;
  }

  get log(): Logger {
    return this.conn.log;
  }

  /** The current connection, reconnecting first if it was lost. */
  async live(): Promise<SshConnection> {
    if (this.closed) throw new Error(`${this.label}: session closed`);
    if (!this.conn.isClosed) return this.conn;
    // Having just given up, every further caller fails at once: a failed run's unwind has dozens
    // of steps, and each waiting out a reconnect cycle of its own would take an hour. Later on,
    // trying again is worth it.
    const gaveUp = this.gaveUp;
    if (gaveUp && Date.now() - gaveUp.at < this.policy.giveUpAfterMs) {
      throw new SshError('closed', this.label, `connection lost; gave up reconnecting ${Math.round((Date.now() - gaveUp.at) / 1000)} s ago (${gaveUp.error.message})`, { cause: gaveUp.error });
    }
    this.reconnecting ??= this.reconnect()
      .then(
        (conn) => {
          this.gaveUp = null;
          return conn;
        },
        (err: unknown) => {
          this.gaveUp = { at: Date.now(), error: err instanceof Error ? err : new Error(String(err)) };
          throw err;
        },
      )
      .finally(() => {
        this.reconnecting = null;
      });
    return this.reconnecting;
  }

  private async reconnect(): Promise<SshConnection> {
    const started = Date.now();
    this.log('warn', `${this.label}: SSH connection lost; reconnecting`);
    for (let attempt = 0; ; attempt++) {
      const delay = this.policy.delaysMs[Math.min(attempt, this.policy.delaysMs.length - 1)] ?? 1_000;
      await new Promise((r) => setTimeout(r, delay));
      try {
        const conn = await this.connect();
        // Carry over what we learned about the server.
        conn.streamLocalRefused = this.conn.streamLocalRefused;
        conn.streamLocalConfirmed = this.conn.streamLocalConfirmed;
        this.conn = conn;
        this.log('info', `${this.label}: reconnected after ${attempt + 1} attempt(s), ${Date.now() - started} ms`);
        for (const l of this.listeners) {
          try {
            await l();
          } catch (err) {
            this.log('warn', `${this.label}: after reconnect: ${(err as Error).message}`);
          }
        }
        return conn;
      } catch (err) {
        if (isPermanent(err) || Date.now() - started > this.policy.giveUpAfterMs || this.closed) throw err;
        this.log('debug', `${this.label}: reconnect attempt ${attempt + 1} failed: ${(err as Error).message}`);
      }
    }
  }

  /**
   * Runs a command. Plain commands (no stdin, streaming or cancel) started in
   * the same tick share one SSH channel (ssh/exec-batch.ts): the engine starts
   * per-disk commands together, and each channel costs the host a session.
   */
  async exec(argv: readonly string[], options?: ExecOptions): Promise<ExecResult> {
    // Long commands (a checksum, a copy) run on their own: a batch lasts as long as its slowest member.
    const batchable = !options || (options.stdin === undefined && !options.signal && !options.onStdout && !options.onStderr && (options.timeoutMs ?? 0) <= BATCH_MAX_TIMEOUT_MS);
    if (!batchable) {
      this.stats.execs++;
      return exec(await this.live(), argv, options);
    }
    return new Promise<ExecResult>((resolve, reject) => {
      this.pending.push({ argv, timeoutMs: options?.timeoutMs, resolve, reject });
      if (this.pending.length === 1) setImmediate(() => void this.flush());
    });
  }

  async execChecked(argv: readonly string[], options?: ExecOptions): Promise<ExecResult> {
    const result = await this.exec(argv, options);
    if (result.code !== 0) throw new RemoteCommandError(this.label, argv, result);
    return result;
  }

  private pending: Array<{ argv: readonly string[]; timeoutMs: number | undefined; resolve: (r: ExecResult) => void; reject: (e: unknown) => void }> = [];

  private async flush(): Promise<void> {
    const batch = this.pending.splice(0);
    const timeouts = batch.map((b) => b.timeoutMs);
    // The batch waits as long as its most patient member would have (no limit if any had none).
    const timeoutMs = timeouts.includes(undefined) ? undefined : Math.max(...(timeouts as number[]));
    this.stats.execs++;
    try {
      const conn = await this.live();
      // A command on a channel of its own, with its own time limit.
      const alone = async (b: (typeof batch)[number]) => {
        try {
          b.resolve(await exec(conn, b.argv, b.timeoutMs === undefined ? {} : { timeoutMs: b.timeoutMs }));
        } catch (err) {
          b.reject(err);
        }
      };
      if (batch.length === 1) {
        await alone(batch[0] as (typeof batch)[number]);
        return;
      }
      const parser = new BatchOutputParser(batch.length);
      const state: { parseError: Error | null } = { parseError: null };
      const started = Date.now();
      const deliver = (chunk: Buffer) => {
        if (state.parseError) return;
        try {
          for (const { index, result } of parser.push(chunk)) {
            const b = batch[index];
            // Killed by its own host-side timeout (below): reported as exec reports a timeout.
            if (b?.timeoutMs !== undefined && result.code === 128 + 9 && Date.now() - started >= b.timeoutMs - 1_000) {
              b.reject(new ExecAbortedError(`${this.label}: ${b.argv[0] ?? ''}: timed out after ${b.timeoutMs} ms`));
            } else b?.resolve(result);
          }
        } catch (err) {
          state.parseError = err as Error;
        }
      };
      // Each member keeps its own time limit, enforced on the host (`timeout` kills its process group).
      const commands = batch.map((b) => (b.timeoutMs === undefined ? b.argv : ['timeout', '-s', 'KILL', `${Math.ceil(b.timeoutMs / 1000)}s`, ...b.argv]));
      let r: ExecResult;
      try {
        r = await exec(conn, batchArgv(commands), { ...(timeoutMs === undefined ? {} : { timeoutMs: timeoutMs + 5_000 }), onStdout: deliver });
      } catch (err) {
        // Those that finished keep their results; the rest share the batch's fate (timeout, lost link).
        for (const i of parser.missing()) batch[i]?.reject(err);
        return;
      }
      if (r.code === BATCH_NO_TEMP_DIR && parser.missing().length === batch.length) {
        // Nothing ran (no writable temp folder, e.g. a full /tmp): each command on its own channel instead.
        this.stats.execs += batch.length;
        await Promise.all(batch.map(alone));
        return;
      }
      const missing = parser.missing();
      if (missing.length > 0) {
        const why = state.parseError?.message ?? `the batch ended (exit ${r.code ?? r.signal}) without their results: ${r.stderr.trim()}`;
        for (const i of missing) batch[i]?.reject(new Error(`${this.label}: ${batch[i]?.argv[0] ?? 'command'}: ${why}`));
      }
    } catch (err) {
      for (const b of batch) b.reject(err);
    }
  }

  async hold(argv: readonly string[], readyLine: string): Promise<RemoteHold> {
    this.stats.holds++;
    return holdWhileConnected(await this.live(), argv, readyLine);
  }

  onReconnect(listener: () => Promise<void> | void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The connection object of the moment (tests use it to cut the link). */
  get connection(): SshConnection {
    return this.conn;
  }

  close(): void {
    this.closed = true;
    this.conn.close();
  }
}
