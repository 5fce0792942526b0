import type { Duplex } from 'node:stream';
import { LineSplitter } from './framing.js';

/**
 * The QEMU guest agent speaks QMP-style JSON lines without a greeting. A socket
 * with no agent behind it (agent not installed, guest still booting) simply
 * never answers, so every call has a timeout and the caller decides what that
 * means (for a backup: crash-consistent instead of filesystem-consistent).
 */
export class GuestAgentTimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GuestAgentTimeoutError';
  }
}

export async function guestAgentCommand<T = unknown>(
  stream: Duplex,
  command: string,
  timeoutMs: number,
  args?: Record<string, unknown>,
): Promise<T> {
  const splitter = new LineSplitter();
  try {
    return await new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new GuestAgentTimeoutError(`guest agent did not answer ${command} within ${timeoutMs} ms`)), timeoutMs);
      stream.on('data', (chunk: Buffer) => {
        for (const line of splitter.push(chunk)) {
          let msg: { return?: unknown; error?: { desc?: string } };
          try {
            msg = JSON.parse(line) as typeof msg;
          } catch {
            continue; // agents may emit a delimiter byte or noise after a reset
          }
          clearTimeout(timer);
          if (msg.error) reject(new Error(`guest agent ${command}: ${msg.error.desc ?? 'error'}`));
          else resolve(msg.return as T);
          return;
        }
      });
      stream.on('error', (err: Error) => {
        clearTimeout(timer);
        reject(err);
      });
      stream.on('close', () => {
        clearTimeout(timer);
        reject(new Error(`guest agent channel closed before answering ${command}`));
      });
      stream.write(`${JSON.stringify(args ? { execute: command, arguments: args } : { execute: command })}\n`);
    });
  } finally {
    stream.destroy();
  }
}
