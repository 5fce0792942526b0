import type { Duplex } from 'node:stream';
import type { SshConnection } from './connect.js';
import { SshError } from './errors.js';
import { exec, execChecked, RemoteCommandError } from './exec.js';
import { shellCommand } from './quote.js';

/**
 * socat parses its address argument itself (`:` `,` `!!` quotes...). A backslash
 * makes any ASCII punctuation or space literal there (checked with socat 1.7.4);
 * non-ASCII bytes are not special to it and are left alone.
 */
export function socatUnixAddress(path: string): string {
  return `UNIX-CONNECT:${path.replace(/[^A-Za-z0-9/._\-\u0080-\u{10FFFF}]/gu, (c) => `\\${c}`)}`;
}

export type TunnelKind = 'streamlocal' | 'socat';

export interface UnixTunnel {
  stream: Duplex;
  kind: TunnelKind;
}

function forwardStreamLocal(conn: SshConnection, path: string): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    conn.client.openssh_forwardOutStreamLocal(path, (err, stream) => (err ? reject(err) : resolve(stream)));
  });
}

/**
 * One round trip that tells a missing socket, a stale one (QEMU killed: the file
 * stays, nobody listens) and a missing socat apart. The script is a constant;
 * the path travels as positional arguments, never inside the script.
 */
const CHECK_RELAY =
  '[ -S "$1" ] || exit 3; command -v socat >/dev/null 2>&1 || exit 4; socat -u OPEN:/dev/null "$2" 2>/dev/null || exit 5';

async function checkSocatRelay(conn: SshConnection, path: string): Promise<void> {
  try {
    await execChecked(conn, ['sh', '-c', CHECK_RELAY, 'sh', path, socatUnixAddress(path)], { timeoutMs: 15_000 });
  } catch (err) {
    const code = err instanceof RemoteCommandError ? err.result.code : null;
    if (code === 3) throw new SshError('unreachable', conn.label, `no unix socket at ${path} on this host (is the VM running?)`);
    if (code === 5) throw new SshError('unreachable', conn.label, `nothing is listening on ${path} (stale socket: has QEMU exited?)`);
    if (code === 4) {
      throw new SshError(
        'unreachable',
        conn.label,
        `cannot reach ${path}: the SSH server refuses stream-local forwarding (AllowStreamLocalForwarding) and socat is not installed on the host`,
      );
    }
    throw err;
  }
}

function socatStream(conn: SshConnection, path: string): Promise<Duplex> {
  const argv = ['socat', 'STDIO', socatUnixAddress(path)];
  return new Promise((resolve, reject) => {
    conn.client.exec(shellCommand(argv), (err, channel) => {
      if (err) return reject(new SshError('closed', conn.label, `cannot start socat: ${err.message}`));
      // socat's complaints (e.g. "Connection refused") arrive on stderr; surface them in the log.
      channel.stderr.on('data', (chunk: Buffer) => conn.log('warn', `${conn.label}: socat: ${chunk.toString('utf8').trim()}`));
      resolve(channel);
    });
  });
}

/**
 * Opens a byte stream to a unix socket on the host (the QMP monitor). First
 * through OpenSSH's stream-local forwarding; a server that refuses it answers
 * exactly as for a missing socket ("open failed"), so we then check the socket
 * exists and relay through `socat` over an exec channel, logging which path was used.
 */
export async function openUnixSocket(conn: SshConnection, path: string): Promise<UnixTunnel> {
  if (!conn.streamLocalRefused) {
    try {
      const stream = await forwardStreamLocal(conn, path);
      if (!conn.streamLocalConfirmed) {
        conn.streamLocalConfirmed = true;
        conn.log('info', `${conn.label}: unix sockets reached through stream-local forwarding`);
      }
      return { stream, kind: 'streamlocal' };
    } catch (err) {
      conn.log('debug', `${conn.label}: stream-local forwarding to ${path} failed: ${(err as Error).message}`);
    }
  }
  if (conn.streamLocalConfirmed) {
    // Forwarding works on this server, so the socket itself is the problem: missing or dead.
    const exists = (await exec(conn, ['test', '-S', path], { timeoutMs: 15_000 })).code === 0;
    throw new SshError('unreachable', conn.label, exists
      ? `nothing is listening on ${path} (stale socket: has QEMU exited?)`
      : `no unix socket at ${path} on this host (is the VM running?)`);
  }
  await checkSocatRelay(conn, path);
  if (!conn.streamLocalRefused) {
    conn.streamLocalRefused = true;
    conn.log('info', `${conn.label}: stream-local forwarding unavailable; relaying unix sockets through socat`);
  }
  const stream = await socatStream(conn, path);
  conn.log('debug', `${conn.label}: ${path} opened through socat`);
  return { stream, kind: 'socat' };
}
