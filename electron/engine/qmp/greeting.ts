import type { QmpGreeting } from './types.js';

/** What a line read before QEMU's greeting turned out to be. */
export type BeforeGreeting =
  | { kind: 'greeting'; greeting: QmpGreeting }
  /** A reply or event meant for the monitor's previous client. */
  | { kind: 'stale' }
  /** Not QMP at all (an HMP monitor, a shell, a web server…). */
  | { kind: 'foreign'; reason: string };

/**
 * QEMU's QMP monitor runs its chardev in an I/O thread and executes commands in the
 * main thread, so the reply to a command whose client disconnected (or an event) can
 * be written to the next client before that client's greeting. Such lines are QMP
 * messages and are skipped; anything that is not a QMP message means the socket is
 * not a QMP monitor, and saying so at once beats waiting for the greeting timeout.
 */
export function readBeforeGreeting(line: string): BeforeGreeting {
  let msg: unknown;
  try {
    msg = JSON.parse(line);
  } catch (err) {
    return { kind: 'foreign', reason: (err as Error).message };
  }
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
    return { kind: 'foreign', reason: 'not a JSON object' };
  }
  const fields = msg as Record<string, unknown>;
  if (typeof fields.QMP === 'object' && fields.QMP !== null) {
    return { kind: 'greeting', greeting: fields.QMP as QmpGreeting };
  }
  if ('return' in fields || 'error' in fields || typeof fields.event === 'string') return { kind: 'stale' };
  return { kind: 'foreign', reason: 'no "QMP" member' };
}
