import type { SshConnection } from './connect.js';
import { SshError } from './errors.js';
import { shellCommand } from './quote.js';

export interface RemoteHold {
  /** Ends the remote process by closing its stdin. */
  release(): void;
  /**
   * Sends one line to the command's stdin and resolves with the next line it
   * prints: a conversation on the already open channel, so no new SSH channel
   * (about 100 ms each) is opened per request. Rejects once the command ended.
   */
  request(line: string, timeoutMs?: number): Promise<string>;
  /** Resolves when the remote side ended (released, killed or connection lost). */
  readonly ended: Promise<void>;
}

/**
 * Starts a remote command that lives exactly as long as this SSH channel: its
 * stdin stays open until `release()`, so when the connection dies (app killed,
 * network gone) sshd closes the pipe and the command sees EOF and exits. Used
 * to hold a lock for the lifetime of a run. Resolves once the command printed
 * `readyLine` (e.g. after it took the lock).
 */
export function holdWhileConnected(conn: SshConnection, argv: readonly string[], readyLine: string, timeoutMs = 15_000): Promise<RemoteHold> {
  return new Promise((resolve, reject) => {
    conn.client.exec(shellCommand(argv), (err, channel) => {
      if (err) return reject(new SshError('closed', conn.label, `cannot start ${argv[0] ?? 'command'}: ${err.message}`));
      let out = '';
      let errText = '';
      let ready = false;
      let endedResolve: () => void = () => {};
      const ended = new Promise<void>((r) => (endedResolve = r));
      const timer = setTimeout(() => {
        channel.close();
        reject(new Error(`${conn.label}: ${argv[0] ?? 'command'} did not get ready within ${timeoutMs} ms`));
      }, timeoutMs);
      // Replies after the ready line, answered in order.
      let pending = '';
      // A request that timed out stays in the queue, abandoned: its late reply is dropped, so the
      // replies stay in step and the channel (and whatever the command holds, e.g. a lock) lives on.
      const waiting: Array<{ resolve: (line: string) => void; reject: (err: Error) => void; timer: NodeJS.Timeout; abandoned: boolean }> = [];
      let closed = false;
      const request = (line: string, requestTimeoutMs = 30_000): Promise<string> =>
        new Promise((res, rej) => {
          if (closed) return rej(new SshError('closed', conn.label, `${argv[0] ?? 'command'} has ended`));
          if (line.includes('\n')) return rej(new Error('a hold request is one line'));
          const w = {
            resolve: res,
            reject: rej,
            abandoned: false,
            timer: setTimeout(() => {
              w.abandoned = true;
              rej(new Error(`${conn.label}: no reply from ${argv[0] ?? 'command'} within ${requestTimeoutMs} ms`));
            }, requestTimeoutMs),
          };
          waiting.push(w);
          channel.write(`${line}\n`);
        });
      channel.on('data', (chunk: Buffer) => {
        if (ready) {
          pending += chunk.toString('utf8');
          let nl: number;
          while ((nl = pending.indexOf('\n')) >= 0) {
            const reply = pending.slice(0, nl);
            pending = pending.slice(nl + 1);
            const w = waiting.shift();
            if (w && !w.abandoned) {
              clearTimeout(w.timer);
              w.resolve(reply);
            }
          }
          return;
        }
        out += chunk.toString('utf8');
        const lines = out.split('\n');
        const at = lines.indexOf(readyLine);
        if (at >= 0 && at < lines.length - 1) {
          ready = true;
          clearTimeout(timer);
          pending = lines.slice(at + 1).join('\n');
          resolve({ release: () => channel.end(), ended, request });
        }
      });
      channel.stderr.on('data', (chunk: Buffer) => (errText += chunk.toString('utf8')));
      channel.on('close', () => {
        closed = true;
        for (const w of waiting.splice(0)) {
          clearTimeout(w.timer);
          if (!w.abandoned) w.reject(new SshError('closed', conn.label, `${argv[0] ?? 'command'} ended before it replied`));
        }
        endedResolve();
        if (!ready) {
          clearTimeout(timer);
          reject(new Error(`${conn.label}: ${argv[0] ?? 'command'} ended before it was ready: ${errText.trim() || out.trim()}`));
        }
      });
    });
  });
}
