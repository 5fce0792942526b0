/**
 * The lab's own QMP access: a short local session on the VM's socket. The lab plays the
 * host side, so it connects to the UNIX socket directly (no SSH). QEMU greets one client at
 * a time, so a session must end quickly or it blocks the app under test.
 */
import { connect } from 'node:net';
import { QmpClient } from '../../electron/engine/qmp/client.js';

export interface LocalQmpOptions {
  /** Names the monitor in errors. */
  label?: string;
  /**
   * How long to wait for QEMU's greeting. The app under test may hold the monitor for a
   * moment (it uses short sessions too), so allow more than a bare round trip.
   */
  greetingTimeoutMs?: number;
}

/** Connects, runs `fn` with a ready client, and always closes the session. */
export async function withLocalQmp<T>(
  socketPath: string,
  fn: (qmp: QmpClient) => Promise<T>,
  options: LocalQmpOptions = {},
): Promise<T> {
  const client = await QmpClient.connect(connect(socketPath), {
    label: options.label ?? `lab:${socketPath}`,
    greetingTimeoutMs: options.greetingTimeoutMs ?? 20_000,
  });
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}
