import type { Duplex } from 'node:stream';
import type { Logger } from '../log.js';
import { QmpClient } from './client.js';

/** Something that can open a byte stream to a QMP socket: an SSH host, or a local socket in tests. */
export interface QmpTransport {
  /** Names the host in errors, e.g. `root@pve1:22`. */
  readonly label: string;
  openQmpStream(socketPath: string): Promise<Duplex>;
  readonly log: Logger;
}

/**
 * One short QMP session: connect, run the batch, close. QEMU serves a single
 * client per monitor, so holding a session would block the host's own tools
 * (qm, virsh, Proxmox's vzdump); a fresh session costs about 2 ms.
 */
export async function withQmp<T>(
  transport: QmpTransport,
  socketPath: string,
  batch: (qmp: QmpClient) => Promise<T>,
  options: { greetingTimeoutMs?: number; capabilitiesTimeoutMs?: number } = {},
): Promise<T> {
  const stream = await transport.openQmpStream(socketPath);
  const qmp = await QmpClient.connect(stream, {
    label: `${transport.label}:${socketPath}`,
    log: transport.log,
    ...(options.greetingTimeoutMs !== undefined ? { greetingTimeoutMs: options.greetingTimeoutMs } : {}),
    ...(options.capabilitiesTimeoutMs !== undefined ? { capabilitiesTimeoutMs: options.capabilitiesTimeoutMs } : {}),
  });
  try {
    return await batch(qmp);
  } finally {
    await qmp.close();
  }
}
