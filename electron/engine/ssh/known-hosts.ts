import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * OpenSSH known_hosts, read the way `ssh` reads it (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"):
 * plain host patterns with `*`, `?` and `!` negation, `[host]:port` for other ports,
 * hashed `|1|salt|hmac` entries, and the `@revoked` marker. `@cert-authority` lines are
 * skipped: Shear does not accept host certificates, so they can never vouch for a key.
 */

export interface KnownHostEntry {
  marker: 'revoked' | 'cert-authority' | null;
  /** Either the comma-separated pattern list or a single hashed `|1|...` token. */
  hosts: string;
  keyType: string;
  keyBase64: string;
  line: number;
}

export type HostKeyCheck =
  | { status: 'known' }
  | { status: 'unknown'; otherKeyTypes: string[] }
  | { status: 'changed'; knownFingerprints: string[] }
  | { status: 'revoked' };

export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const fields = line.split(/\s+/);
    let marker: KnownHostEntry['marker'] = null;
    if (fields[0]?.startsWith('@')) {
      const m = fields.shift();
      if (m === '@revoked') marker = 'revoked';
      else if (m === '@cert-authority') marker = 'cert-authority';
      else return; // unknown marker: OpenSSH ignores the line too
    }
    const [hosts, keyType, keyBase64] = fields;
    if (!hosts || !keyType || !keyBase64) return;
    entries.push({ marker, hosts, keyType, keyBase64, line: index + 1 });
  });
  return entries;
}

/** The name ssh looks up: `host` on port 22, `[host]:port` elsewhere. */
export function hostLookupName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function globToRegExp(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${escaped}$`, 'i');
}

function hashedMatches(token: string, name: string): boolean {
  const parts = token.split('|'); // ['', '1', salt, hash]
  if (parts.length !== 4 || parts[1] !== '1') return false;
  const salt = Buffer.from(parts[2] ?? '', 'base64');
  const expected = Buffer.from(parts[3] ?? '', 'base64');
  const actual = createHmac('sha1', salt).update(name).digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** Whether an entry's host field names this host:port. */
export function entryMatchesHost(hosts: string, host: string, port: number): boolean {
  const name = hostLookupName(host, port);
  if (hosts.startsWith('|')) return hashedMatches(hosts, name);
  let matched = false;
  for (const raw of hosts.split(',')) {
    const negated = raw.startsWith('!');
    const pattern = negated ? raw.slice(1) : raw;
    if (!globToRegExp(pattern).test(name)) continue;
    if (negated) return false; // a matching negation wins over everything
    matched = true;
  }
  return matched;
}

/** Key type as carried in the SSH wire format of a public key (its first string). */
export function keyTypeOf(keyBlob: Buffer): string {
  if (keyBlob.length < 4) return 'unknown';
  const len = keyBlob.readUInt32BE(0);
  return keyBlob.subarray(4, 4 + len).toString('latin1');
}

/** Fingerprint exactly as OpenSSH prints it: `SHA256:` + unpadded base64. */
export function sha256Fingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

export function checkHostKey(entries: KnownHostEntry[], host: string, port: number, keyBlob: Buffer): HostKeyCheck {
  const keyBase64 = keyBlob.toString('base64');
  const keyType = keyTypeOf(keyBlob);
  const forHost = entries.filter((e) => e.marker !== 'cert-authority' && entryMatchesHost(e.hosts, host, port));
  if (forHost.some((e) => e.marker === 'revoked' && e.keyBase64 === keyBase64)) return { status: 'revoked' };
  const trusted = forHost.filter((e) => e.marker === null);
  if (trusted.some((e) => e.keyType === keyType && e.keyBase64 === keyBase64)) return { status: 'known' };
  const sameType = trusted.filter((e) => e.keyType === keyType);
  if (sameType.length > 0) {
    return {
      status: 'changed',
      knownFingerprints: sameType.map((e) => sha256Fingerprint(Buffer.from(e.keyBase64, 'base64'))),
    };
  }
  return { status: 'unknown', otherKeyTypes: [...new Set(trusted.map((e) => e.keyType))] };
}

/** Key types already trusted for a host, so the handshake can prefer them (as ssh does). */
export function knownKeyTypes(entries: KnownHostEntry[], host: string, port: number): string[] {
  return [
    ...new Set(
      entries.filter((e) => e.marker === null && entryMatchesHost(e.hosts, host, port)).map((e) => e.keyType),
    ),
  ];
}

/** A known_hosts file on disk; a missing file is an empty one. */
export class KnownHostsFile {
  constructor(readonly path: string) {}

  async entries(): Promise<KnownHostEntry[]> {
    try {
      return parseKnownHosts(await readFile(this.path, 'utf8'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  /** Records a key the user chose to trust. */
  async add(host: string, port: number, keyBlob: Buffer): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    let prefix = '';
    try {
      const existing = await readFile(this.path, 'utf8');
      if (existing.length > 0 && !existing.endsWith('\n')) prefix = '\n';
    } catch {
      // new file
    }
    const line = `${hostLookupName(host, port)} ${keyTypeOf(keyBlob)} ${keyBlob.toString('base64')}\n`;
    await appendFile(this.path, prefix + line, { mode: 0o600 });
  }
}
