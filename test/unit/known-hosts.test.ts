import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkHostKey,
  entryMatchesHost,
  KnownHostsFile,
  keyTypeOf,
  parseKnownHosts,
  sha256Fingerprint,
} from '../../electron/engine/ssh/known-hosts.js';

/** Real keys from ssh-keygen, so fingerprints can be compared with OpenSSH's own output. */
let dir: string;
interface Key { line: string; type: string; blob: Buffer; sshKeygenFingerprint: string }
const keys: Record<'a' | 'b' | 'rsa', Key> = {} as Record<'a' | 'b' | 'rsa', Key>;

function makeKey(name: string, type: string): Key {
  const path = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-f', path]);
  const line = readFileSync(`${path}.pub`, 'utf8').trim();
  const [kt, b64] = line.split(' ');
  const fp = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${path}.pub`]).toString().split(' ')[1] ?? '';
  return { line, type: kt ?? '', blob: Buffer.from(b64 ?? '', 'base64'), sshKeygenFingerprint: fp };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'shear-kh-'));
  keys.a = makeKey('a', 'ed25519');
  keys.b = makeKey('b', 'ed25519');
  keys.rsa = makeKey('rsa', 'rsa');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const b64 = (k: Key) => k.blob.toString('base64');

describe('known_hosts', () => {
  it('prints fingerprints exactly as ssh-keygen does', () => {
    for (const k of Object.values(keys)) {
      expect(sha256Fingerprint(k.blob)).toBe(k.sshKeygenFingerprint);
      expect(keyTypeOf(k.blob)).toBe(k.type);
    }
  });

  it('matches plain names, [host]:port, wildcards and negations', () => {
    expect(entryMatchesHost('pve1,10.0.0.5', 'pve1', 22)).toBe(true);
    expect(entryMatchesHost('pve1', 'pve1', 2222)).toBe(false);
    expect(entryMatchesHost('[pve1]:2222', 'pve1', 2222)).toBe(true);
    expect(entryMatchesHost('[pve1]:2222', 'pve1', 22)).toBe(false);
    expect(entryMatchesHost('*.lab', 'pve1.lab', 22)).toBe(true);
    expect(entryMatchesHost('*.lab,!evil.lab', 'evil.lab', 22)).toBe(false);
    expect(entryMatchesHost('pve?', 'pve1', 22)).toBe(true);
    expect(entryMatchesHost('PVE1', 'pve1', 22)).toBe(true);
  });

  it('matches hashed entries made by ssh-keygen -H', () => {
    const file = join(dir, 'hashed');
    writeFileSync(file, `[10.1.2.3]:2200 ${keys.a.line}\npve-hashed ${keys.b.line}\n`);
    execFileSync('ssh-keygen', ['-H', '-f', file], { stdio: 'ignore' });
    const entries = parseKnownHosts(readFileSync(file, 'utf8'));
    expect(entries.every((e) => e.hosts.startsWith('|1|'))).toBe(true);
    expect(checkHostKey(entries, '10.1.2.3', 2200, keys.a.blob)).toEqual({ status: 'known' });
    expect(checkHostKey(entries, 'pve-hashed', 22, keys.b.blob)).toEqual({ status: 'known' });
    expect(checkHostKey(entries, '10.1.2.3', 22, keys.a.blob).status).toBe('unknown');
  });

  it('tells known, unknown, changed and revoked apart', () => {
    const entries = parseKnownHosts(
      [
        '# comment',
        `pve1 ${keys.a.type} ${b64(keys.a)}`,
        `@revoked * ${keys.b.type} ${b64(keys.b)}`,
        `@cert-authority * ${keys.rsa.type} ${b64(keys.rsa)}`,
        `rsa-only ${keys.rsa.type} ${b64(keys.rsa)}`,
        'garbage-line',
      ].join('\n'),
    );
    expect(checkHostKey(entries, 'pve1', 22, keys.a.blob)).toEqual({ status: 'known' });
    expect(checkHostKey(entries, 'pve1', 22, keys.b.blob)).toEqual({ status: 'revoked' });
    expect(checkHostKey(entries, 'other', 22, keys.a.blob)).toEqual({ status: 'unknown', otherKeyTypes: [] });
    // A cert-authority line never vouches for a plain key.
    expect(checkHostKey(entries, 'other', 22, keys.rsa.blob)).toEqual({ status: 'unknown', otherKeyTypes: [] });
    expect(checkHostKey(entries, 'rsa-only', 22, keys.a.blob)).toEqual({ status: 'unknown', otherKeyTypes: ['ssh-rsa'] });
    const changed = parseKnownHosts(`pve2 ${keys.a.type} ${b64(keys.a)}`);
    expect(checkHostKey(changed, 'pve2', 22, keys.b.blob)).toEqual({
      status: 'changed',
      knownFingerprints: [keys.a.sshKeygenFingerprint],
    });
  });

  it('records a trusted key in a form OpenSSH reads back', async () => {
    const path = join(dir, 'sub', 'known_hosts');
    const file = new KnownHostsFile(path);
    expect(await file.entries()).toEqual([]);
    await file.add('192.0.2.7', 2222, keys.a.blob);
    await file.add('pve3', 22, keys.b.blob);
    expect(checkHostKey(await file.entries(), '192.0.2.7', 2222, keys.a.blob)).toEqual({ status: 'known' });
    // ssh-keygen -F looks the host up with OpenSSH's own matcher.
    const found = execFileSync('ssh-keygen', ['-F', '[192.0.2.7]:2222', '-f', path]).toString();
    expect(found).toContain(b64(keys.a));
    expect(execFileSync('ssh-keygen', ['-F', 'pve3', '-f', path]).toString()).toContain(b64(keys.b));
  });
});
