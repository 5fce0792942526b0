import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../engine/log.js';
import { SshHostSession } from '../engine/hosts/host-session.js';
import { connectSsh, type SshAuth } from '../engine/ssh/connect.js';
import { KnownHostsFile } from '../engine/ssh/known-hosts.js';
import { sshTargetFor } from '../engine/ssh/target.js';

export interface HostArgs {
  /** `user@host`, `host` or an ~/.ssh/config alias. */
  host: string;
  port?: number;
  identity?: string;
  knownHosts?: string;
  acceptNew: boolean;
}

/** Keys ssh itself tries when none is configured. */
const DEFAULT_KEYS = ['id_ed25519', 'id_ecdsa', 'id_rsa'];

/**
 * Connects for the CLI: alias resolution, auth from the flags, the agent and
 * default keys, and host keys checked against known_hosts (new keys only with
 * --accept-new, as `ssh -o StrictHostKeyChecking=accept-new`).
 */
export async function connectHost(args: HostArgs, log: Logger): Promise<SshHostSession> {
  const at = args.host.lastIndexOf('@');
  const user = at >= 0 ? args.host.slice(0, at) : undefined;
  const name = at >= 0 ? args.host.slice(at + 1) : args.host;
  if (!name) throw new Error('--host needs a host name, user@host or an ~/.ssh/config alias');

  const auth: SshAuth[] = [];
  if (args.identity) {
    const passphrase = process.env.SHEAR_KEY_PASSPHRASE;
    auth.push({ kind: 'key', privateKeyPath: args.identity, ...(passphrase ? { passphrase } : {}) });
  }
  if (process.env.SSH_AUTH_SOCK) auth.push({ kind: 'agent' });
  if (process.env.SHEAR_PASSWORD) auth.push({ kind: 'password', password: process.env.SHEAR_PASSWORD });
  const target = sshTargetFor(name, auth, { ...(user ? { user } : {}), ...(args.port ? { port: args.port } : {}) });
  if (!args.identity) {
    for (const key of DEFAULT_KEYS.map((k) => join(homedir(), '.ssh', k))) {
      if (existsSync(key) && !target.auth.some((a) => a.kind === 'key' && a.privateKeyPath === key)) {
        target.auth.push({ kind: 'key', privateKeyPath: key });
      }
    }
  }
  const knownHosts = new KnownHostsFile(args.knownHosts ?? join(homedir(), '.ssh', 'known_hosts'));
  const connect = () =>
    connectSsh(target, {
      hostKeys: {
        knownHosts,
        ...(args.acceptNew
          ? {
              onUnknownKey: async (k) => {
                log('warn', `trusting new host key for ${k.host}:${k.port}: ${k.keyType} ${k.fingerprint} (recorded in ${knownHosts.path})`);
                return true;
              },
            }
          : {}),
      },
      log,
    });
  return SshHostSession.open(connect);
}
