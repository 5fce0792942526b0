import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectSsh, type SshAuth, type SshConnection, type SshConnectOptions } from '../../electron/engine/ssh/connect.js';
import { KnownHostsFile } from '../../electron/engine/ssh/known-hosts.js';
import { memoryLogger } from '../../electron/engine/log.js';
import type { LabSshd } from '../lab/sshd.js';

let counter = 0;

/** A known_hosts file holding exactly the given lines, in a directory the caller removes. */
export function knownHostsWith(dir: string, lines: string[]): KnownHostsFile {
  const path = join(dir, `known_hosts-${process.pid}-${++counter}`);
  writeFileSync(path, lines.map((l) => `${l}\n`).join(''));
  return new KnownHostsFile(path);
}

/** Connects to a lab sshd as root with its client key, trusting its host key. */
export async function connectToLab(
  sshd: LabSshd,
  overrides: Partial<SshConnectOptions> & { auth?: SshAuth[] } = {},
): Promise<{ conn: SshConnection; lines: ReturnType<typeof memoryLogger>['lines'] }> {
  const { log, lines } = memoryLogger();
  const { auth, ...options } = overrides;
  const conn = await connectSsh(
    {
      host: sshd.host,
      port: sshd.port,
      user: sshd.user,
      auth: auth ?? [{ kind: 'key', privateKeyPath: sshd.clientKeyPath }],
    },
    { hostKeys: { knownHosts: knownHostsWith(sshd.dir, [sshd.knownHostsLine()]) }, log, ...options },
  );
  return { conn, lines };
}
