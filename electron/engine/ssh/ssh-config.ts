import { readdirSync, readFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { basename, dirname, isAbsolute, join } from 'node:path';
import SSHConfig from 'ssh-config';
import type { SshConfigHost } from '../../../shared/contract.js';

/**
 * Resolves a host alias the way `ssh` does from `~/.ssh/config`, through the
 * maintained `ssh-config` parser (first value wins, Host/Match blocks in order).
 * `Match exec` is never evaluated: reading a config must not run programs.
 */

export interface SshHop {
  host: string;
  port: number;
  user: string;
  identityFiles: string[];
}

export interface ResolvedSshTarget extends SshHop {
  /** The name the user typed (alias), kept for messages. */
  alias: string;
  /** Hosts to pass through, outermost first (ProxyJump). */
  jumps: SshHop[];
}

export interface ResolveOptions {
  /** Config text (default: ~/.ssh/config when it exists). */
  configText?: string;
  /** Directory that relative Include paths start from (default ~/.ssh). */
  configDir?: string;
  home?: string;
  localUser?: string;
  /** Explicit values win over the config file, as on ssh's command line. */
  user?: string;
  port?: number;
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function all(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

/** Expands top-level `Include` lines (globs in the last path component) into one text. */
function inlineIncludes(text: string, configDir: string, home: string, depth = 0): string {
  if (depth > 8) throw new Error('ssh config: Include nested too deeply');
  return text
    .split(/\r?\n/)
    .map((line) => {
      const m = /^\s*Include\s+(.+)$/i.exec(line);
      if (!m?.[1]) return line;
      return m[1]
        .trim()
        .split(/\s+/)
        .flatMap((raw) => {
          const path = raw.startsWith('~') ? join(home, raw.slice(1)) : isAbsolute(raw) ? raw : join(configDir, raw);
          const dir = dirname(path);
          const pattern = new RegExp(
            `^${basename(path).replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`,
          );
          let names: string[];
          try {
            names = readdirSync(dir).filter((n) => pattern.test(n)).sort();
          } catch {
            return [];
          }
          return names.map((n) =>
            inlineIncludes(readFileSync(join(dir, n), 'utf8'), configDir, home, depth + 1),
          );
        })
        .join('\n');
    })
    .join('\n');
}

function readDefaultConfig(home: string): string {
  try {
    return readFileSync(join(home, '.ssh', 'config'), 'utf8');
  } catch {
    return '';
  }
}

/** Expands the tokens ssh_config(5) allows in IdentityFile. */
function expandPath(value: string, ctx: { home: string; localUser: string; host: string; user: string; port: number }): string {
  let out = value.replace(/%([%dhurp])/g, (_m, t: string) => {
    switch (t) {
      case '%': return '%';
      case 'd': return ctx.home;
      case 'h': return ctx.host;
      case 'u': return ctx.localUser;
      case 'r': return ctx.user;
      case 'p': return String(ctx.port);
      default: return _m;
    }
  });
  if (out === '~' || out.startsWith('~/')) out = join(ctx.home, out.slice(1));
  return out;
}

/** Parses one ProxyJump element: `[user@]host[:port]` or `ssh://[user@]host[:port]`. */
export function parseJumpSpec(spec: string): { host: string; user?: string; port?: number } {
  let rest = spec.trim().replace(/^ssh:\/\//, '');
  let user: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    user = rest.slice(0, at);
    rest = rest.slice(at + 1);
  }
  let port: number | undefined;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest);
  let host = rest;
  if (bracketed?.[1]) {
    host = bracketed[1];
    if (bracketed[2]) port = Number(bracketed[2]);
  } else {
    const m = /^([^:]+):(\d+)$/.exec(rest);
    if (m?.[1] && m[2]) {
      host = m[1];
      port = Number(m[2]);
    }
  }
  if (!host) throw new Error(`ProxyJump: cannot read "${spec}"`);
  if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535)) {
    throw new Error(`ProxyJump: bad port in "${spec}"`);
  }
  return { host, ...(user ? { user } : {}), ...(port ? { port } : {}) };
}

export function resolveSshTarget(alias: string, options: ResolveOptions = {}): ResolvedSshTarget {
  const home = options.home ?? homedir();
  const localUser = options.localUser ?? userInfo().username;
  const configDir = options.configDir ?? join(home, '.ssh');
  const text = inlineIncludes(options.configText ?? readDefaultConfig(home), configDir, home);
  const config = SSHConfig.parse(text);

  const resolveHop = (name: string, explicit: { user?: string; port?: number }, seen: Set<string>): ResolvedSshTarget => {
    if (seen.has(name)) throw new Error(`ssh config: ProxyJump loop through "${name}"`);
    seen.add(name);
    const c = config.compute(name, { ignoreCase: true, matchExec: false });
    const host = first(c.hostname)?.replace(/%h/g, name) ?? name;
    const user = explicit.user ?? first(c.user) ?? localUser;
    const portText = explicit.port ?? first(c.port);
    const port = portText === undefined ? 22 : Number(portText);
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new Error(`ssh config: host "${name}" has an invalid Port "${String(portText)}"`);
    }
    const ctx = { home, localUser, host, user, port };
    const identityFiles = all(c.identityfile).map((p) => expandPath(p, ctx));
    const jumpText = first(c.proxyjump);
    const jumps: SshHop[] = [];
    if (jumpText && jumpText.toLowerCase() !== 'none') {
      for (const spec of jumpText.split(',')) {
        const j = parseJumpSpec(spec);
        const hop = resolveHop(j.host, { ...(j.user ? { user: j.user } : {}), ...(j.port ? { port: j.port } : {}) }, seen);
        // A jump host's own ProxyJump comes before it, as in ssh.
        jumps.push(...hop.jumps, { host: hop.host, port: hop.port, user: hop.user, identityFiles: hop.identityFiles });
      }
    }
    return { alias: name, host, port, user, identityFiles, jumps };
  };

  const explicit = { ...(options.user ? { user: options.user } : {}), ...(options.port ? { port: options.port } : {}) };
  return resolveHop(alias, explicit, new Set());
}

export type { SshConfigHost };

/**
 * The concrete hosts of ~/.ssh/config (patterns with `*`, `?` or `!` are not
 * hosts), each resolved as ssh would, for "Import from ~/.ssh/config".
 */
export function listSshConfigHosts(options: ResolveOptions = {}): SshConfigHost[] {
  const home = options.home ?? homedir();
  const configDir = options.configDir ?? join(home, '.ssh');
  const text = inlineIncludes(options.configText ?? readDefaultConfig(home), configDir, home);
  const aliases: string[] = [];
  for (const line of SSHConfig.parse(text)) {
    if (line.type !== SSHConfig.DIRECTIVE || line.param.toLowerCase() !== 'host') continue;
    const values = Array.isArray(line.value) ? line.value.map((v) => v.val) : String(line.value).split(/\s+/);
    for (const v of values) if (v && !/[*?!]/.test(v) && !aliases.includes(v)) aliases.push(v);
  }
  return aliases.map((alias) => {
    const t = resolveSshTarget(alias, { ...options, configText: text, home, configDir });
    return {
      alias,
      host: t.host,
      port: t.port,
      user: t.user,
      identityFile: t.identityFiles[0] ?? null,
      jumps: t.jumps.map((j) => `${j.user}@${j.host}:${j.port}`),
    };
  });
}
