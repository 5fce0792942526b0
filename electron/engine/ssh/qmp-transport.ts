import type { Duplex } from 'node:stream';
import type { QmpTransport } from '../qmp/session.js';
import type { SshConnection } from './connect.js';
import { openUnixSocket } from './tunnel.js';

/** Reaches QMP sockets on an SSH host through the unix-socket tunnel. */
export function sshQmpTransport(conn: SshConnection): QmpTransport {
  return {
    label: conn.label,
    log: conn.log,
    openQmpStream: async (socketPath: string): Promise<Duplex> => (await openUnixSocket(conn, socketPath)).stream,
  };
}
