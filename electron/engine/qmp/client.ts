import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import { LineSplitter } from './framing.js';
import { readBeforeGreeting } from './greeting.js';
import { qmpTimeoutMs } from './timeouts.js';
import type { QmpCommandMap, QmpEvent, QmpGreeting } from './types.js';

/** QEMU answered a command with an error object. */
export class QmpCommandError extends Error {
  constructor(
    readonly command: string,
    readonly errorClass: string,
    readonly desc: string,
    readonly where: string,
  ) {
    super(`${where}: QMP ${command} failed: ${desc} (${errorClass})`);
    this.name = 'QmpCommandError';
  }
}

/** The monitor connection ended (or was never usable) while we waited. */
export class QmpClosedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QmpClosedError';
  }
}

export class QmpTimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QmpTimeoutError';
  }
}

interface Pending {
  command: string;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export interface QmpConnectOptions {
  /** Names the monitor in errors, e.g. `root@pve1:/run/qemu-server/100.qmp`. */
  label: string;
  /** QEMU greets only one client at a time; a busy monitor shows up as a missing greeting. */
  greetingTimeoutMs?: number;
  /** For `qmp_capabilities`: it waits, like any command, while QEMU's main loop runs another monitor's command. */
  capabilitiesTimeoutMs?: number;
  log?: Logger;
}

type ArgsOf<K> = K extends keyof QmpCommandMap ? QmpCommandMap[K]['args'] : Record<string, unknown> | undefined;
type RetOf<K> = K extends keyof QmpCommandMap ? QmpCommandMap[K]['ret'] : unknown;

/**
 * A QMP client over any byte stream (a local unix socket or an SSH tunnel).
 * Every command carries an id; replies are matched by id, so a late reply to a
 * command that already timed out is recognised and dropped.
 */
export class QmpClient {
  private readonly pending = new Map<string, Pending>();
  private readonly listeners = new Set<(event: QmpEvent) => void>();
  private nextId = 1;
  /**
   * Unique per session: a reply QEMU still owes an earlier session (ours or another
   * Shear's) must never match one of this session's commands.
   */
  private readonly idPrefix = `shear-${randomBytes(4).toString('hex')}-`;
  private closedReason: string | null = null;
  private readonly log: Logger;

  private constructor(
    private readonly stream: Duplex,
    readonly label: string,
    readonly greeting: QmpGreeting,
    log: Logger,
  ) {
    this.log = log;
  }

  /** Reads the greeting, negotiates capabilities and returns a ready client. */
  static async connect(stream: Duplex, options: QmpConnectOptions): Promise<QmpClient> {
    const { label } = options;
    const log = options.log ?? silentLogger;
    const splitter = new LineSplitter();
    const greetingTimeoutMs = options.greetingTimeoutMs ?? 10_000;
    let afterGreeting: string[] = [];

    const greeting = await new Promise<QmpGreeting>((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        // Hold further bytes until attach() listens: nothing may be dropped in between.
        stream.pause();
        stream.off('data', onData);
        stream.off('error', onError);
        stream.off('close', onClose);
      };
      const fail = (err: Error) => {
        cleanup();
        stream.destroy();
        reject(err);
      };
      const timer = setTimeout(
        () =>
          fail(
            new QmpTimeoutError(
              `${label}: no QMP greeting within ${greetingTimeoutMs} ms (another client may be holding the monitor)`,
            ),
          ),
        greetingTimeoutMs,
      );
      const onError = (err: Error) => fail(new QmpClosedError(`${label}: QMP connection failed: ${err.message}`));
      const onClose = () => fail(new QmpClosedError(`${label}: QMP connection closed before the greeting`));
      const onData = (chunk: Buffer) => {
        const lines = splitter.push(chunk);
        while (lines.length > 0) {
          const line = lines.shift() as string;
          const seen = readBeforeGreeting(line);
          if (seen.kind === 'stale') {
            // QEMU answers a command whose client already left (or emits an event) to whoever
            // is connected when the reply is ready, which can be us, ahead of our greeting.
            log('debug', `${label}: skipping a message left from an earlier monitor session: ${line.slice(0, 120)}`);
            continue;
          }
          cleanup();
          if (seen.kind === 'foreign') {
            stream.destroy();
            reject(new QmpClosedError(`${label}: not a QMP monitor (${seen.reason})`));
            return;
          }
          // Whatever followed the greeting is read by the client (it drops replies it did not ask for).
          afterGreeting = lines;
          resolve(seen.greeting);
          return;
        }
      };
      stream.on('data', onData);
      stream.on('error', onError);
      stream.on('close', onClose);
    });

    const client = new QmpClient(stream, label, greeting, log);
    client.attach(splitter, afterGreeting);
    try {
      await client.execute('qmp_capabilities', undefined, options.capabilitiesTimeoutMs !== undefined ? { timeoutMs: options.capabilitiesTimeoutMs } : {});
    } catch (err) {
      client.destroy();
      throw err;
    }
    return client;
  }

  private attach(splitter: LineSplitter, early: string[]): void {
    for (const line of early) this.dispatch(line);
    this.stream.on('data', (chunk: Buffer) => {
      for (const line of splitter.push(chunk)) this.dispatch(line);
    });
    this.stream.on('error', (err: Error) => this.shutdown(`QMP connection failed: ${err.message}`));
    this.stream.on('close', () => this.shutdown('QMP connection closed'));
    this.stream.on('end', () => this.shutdown('QMP connection closed by QEMU'));
    this.stream.resume();
  }

  private dispatch(line: string): void {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line) as Record<string, unknown>;
    } catch {
      this.log('warn', `${this.label}: ignoring a line that is not JSON: ${line.slice(0, 200)}`);
      return;
    }
    if (typeof msg.event === 'string') {
      const event = msg as unknown as QmpEvent;
      for (const listener of this.listeners) {
        try {
          listener(event);
        } catch (err) {
          this.log('warn', `${this.label}: event listener failed: ${(err as Error).message}`);
        }
      }
      return;
    }
    const id = typeof msg.id === 'string' ? msg.id : undefined;
    const entry = id !== undefined ? this.pending.get(id) : undefined;
    if (!entry || id === undefined) {
      // A reply to a command that already timed out, or to none of ours.
      this.log('debug', `${this.label}: dropping reply without a waiting command: ${line.slice(0, 200)}`);
      return;
    }
    this.pending.delete(id);
    clearTimeout(entry.timer);
    if ('error' in msg) {
      const e = (msg.error ?? {}) as { class?: string; desc?: string };
      entry.reject(new QmpCommandError(entry.command, e.class ?? 'GenericError', e.desc ?? 'unknown error', this.label));
    } else {
      entry.resolve(msg.return);
    }
  }

  /** Runs one command. The timeout defaults to the per-command table. */
  execute<K extends string>(
    command: K,
    args?: ArgsOf<K>,
    options: { timeoutMs?: number } = {},
  ): Promise<RetOf<K>> {
    if (this.closedReason !== null) {
      return Promise.reject(new QmpClosedError(`${this.label}: ${this.closedReason} (while sending ${command})`));
    }
    const id = `${this.idPrefix}${this.nextId++}`;
    const timeoutMs = options.timeoutMs ?? qmpTimeoutMs(command);
    return new Promise<RetOf<K>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new QmpTimeoutError(`${this.label}: QMP ${command} got no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { command, resolve: resolve as (v: unknown) => void, reject, timer });
      const message: Record<string, unknown> = { execute: command, id };
      if (args !== undefined) message.arguments = args;
      this.stream.write(`${JSON.stringify(message)}\n`);
    });
  }

  /** Subscribes to asynchronous events; returns the unsubscribe function. */
  onEvent(listener: (event: QmpEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get closed(): boolean {
    return this.closedReason !== null;
  }

  private shutdown(reason: string): void {
    if (this.closedReason !== null) return;
    this.closedReason = reason;
    for (const [id, entry] of this.pending) {
      clearTimeout(entry.timer);
      entry.reject(new QmpClosedError(`${this.label}: ${reason} while waiting for ${entry.command}`));
      this.pending.delete(id);
    }
  }

  private destroy(): void {
    this.shutdown('QMP session closed by Shear');
    this.stream.destroy();
  }

  /** Ends the session so the monitor is free for the host's own tools. */
  async close(): Promise<void> {
    if (this.closedReason !== null && this.stream.destroyed) return;
    this.shutdown('QMP session closed by Shear');
    await new Promise<void>((resolve) => {
      if (this.stream.destroyed) return resolve();
      const timer = setTimeout(() => {
        this.stream.destroy();
        resolve();
      }, 1_000);
      this.stream.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      this.stream.end();
    });
  }
}
