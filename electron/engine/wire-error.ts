import type { WireError } from '../../shared/contract.js';
import { SshError } from './ssh/errors.js';

/** An error as it crosses IPC or the WebSocket: name, message and, for SSH, its kind. */
export function toWireError(err: unknown): WireError {
  const e = err instanceof Error ? err : new Error(String(err));
  return { name: e.name, message: e.message, ...(e instanceof SshError ? { kind: e.kind } : {}) };
}
