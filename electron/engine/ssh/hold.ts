import type { SshConnection } from './connect.js';
import { SshError } from './errors.js';
import { shellCommand } from './quote.js';

export interface RemoteHold {
  /** Ends the remote process by closing its stdin. */
  release(): void;
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
      channel.on('data', (chunk: Buffer) => {
        if (ready) return;
        out += chunk.toString('utf8');
        if (out.split('\n').includes(readyLine)) {
          ready = true;
          clearTimeout(timer);
          resolve({ release: () => channel.end(), ended });
        }
      });
      channel.stderr.on('data', (chunk: Buffer) => (errText += chunk.toString('utf8')));
      channel.on('close', () => {
        endedResolve();
        if (!ready) {
          clearTimeout(timer);
          reject(new Error(`${conn.label}: ${argv[0] ?? 'command'} ended before it was ready: ${errText.trim() || out.trim()}`));
        }
      });
    });
  });
}
