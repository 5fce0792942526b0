import type { Duplex } from 'node:stream';
import type { Logger } from '../log.js';
import type { QmpTransport } from '../qmp/session.js';
import type { SshConnection } from '../ssh/connect.js';
import { SshError } from '../ssh/errors.js';
import { exec, execChecked, type ExecOptions, type ExecResult } from '../ssh/exec.js';
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

export const DEFAULT_RECONNECT: ReconnectPolicy = { delaysMs: [250, 500, 1_000, 2_000, 4_000, 8_000], giveUpAfterMs: 120_000 };

/** Errors after which trying again cannot help: wrong keys, wrong host key. */
function isPermanent(err: unknown): boolean {
  return err instanceof SshError && ['auth', 'key', 'host-key-unknown', 'host-key-changed', 'host-key-revoked', 'dns'].includes(err.kind);
}

export class SshHostSession implements HostSession {
  private conn: SshConnection;
  private reconnecting: Promise<SshConnection> | null = null;
  private readonly listeners = new Set<() => Promise<void> | void>();
  private closed = false;
  readonly qmp: QmpTransport;

  constructor(
    first: SshConnection,
    private readonly connect: () => Promise<SshConnection>,
    private readonly policy: ReconnectPolicy = DEFAULT_RECONNECT,
  ) {
    this.conn = first;
    this.qmp = {
      label: first.label,
      log: first.log,
      openQmpStream: async (socketPath: string): Promise<Duplex> => (await openUnixSocket(await this.live(), socketPath)).stream,
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
    this.reconnecting ??= this.reconnect().finally(() => {
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

  async exec(argv: readonly string[], options?: ExecOptions): Promise<ExecResult> {
    return exec(await this.live(), argv, options);
  }

  async execChecked(argv: readonly string[], options?: ExecOptions): Promise<ExecResult> {
    return execChecked(await this.live(), argv, options);
  }

  async hold(argv: readonly string[], readyLine: string): Promise<RemoteHold> {
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
