import { existsSync } from 'node:fs';
import type { SshAuth, SshTarget } from './connect.js';
import { resolveSshTarget, type ResolveOptions } from './ssh-config.js';

/**
 * What to connect to for a name the user typed: an `~/.ssh/config` alias or a
 * plain host. The user's chosen methods come first, then the IdentityFiles the
 * config names (missing ones skipped, as ssh does for files it merely tries).
 */
export function sshTargetFor(name: string, auth: SshAuth[], options: ResolveOptions = {}): SshTarget {
  const resolved = resolveSshTarget(name, options);
  const configKeys = resolved.identityFiles
    .filter((path) => existsSync(path))
    .filter((path) => !auth.some((a) => a.kind === 'key' && a.privateKeyPath === path))
    .map((path): SshAuth => ({ kind: 'key', privateKeyPath: path }));
  return {
    host: resolved.host,
    port: resolved.port,
    user: resolved.user,
    auth: [...auth, ...configKeys],
    jumps: resolved.jumps.map((j) => ({ ...j, identityFiles: j.identityFiles.filter((p) => existsSync(p)) })),
  };
}
