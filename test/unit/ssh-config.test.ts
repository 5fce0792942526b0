import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listSshConfigHosts, parseJumpSpec, resolveSshTarget } from '../../electron/engine/ssh/ssh-config.js';

let home: string;
beforeAll(() => {
  home = mkdtempSync(join(tmpdir(), 'shear-sshcfg-'));
  mkdirSync(join(home, '.ssh', 'conf.d'), { recursive: true });
  writeFileSync(join(home, '.ssh', 'conf.d', 'lab.conf'), 'Host included\n  HostName 10.9.9.9\n  User backup\n');
});
afterAll(() => rmSync(home, { recursive: true, force: true }));

const base = () => ({ home, localUser: 'alice' });

describe('ssh config resolution', () => {
  const config = [
    'Include conf.d/*.conf',
    'Host pve1',
    '  HostName 192.168.1.10',
    '  User root',
    '  Port 2222',
    '  IdentityFile ~/.ssh/id_pve',
    '  IdentityFile %d/.ssh/%r@%h',
    'Host bastion',
    '  HostName bastion.example.net',
    '  User jump',
    'Host inner',
    '  HostName 10.0.0.2',
    '  ProxyJump bastion,ops@relay:2200',
    'Host *',
    '  User fallback',
    '  Match exec "touch /tmp/shear-should-never-run"',
  ].join('\n');

  it('resolves an alias with HostName, User, Port and expanded IdentityFiles', () => {
    const t = resolveSshTarget('pve1', { ...base(), configText: config });
    expect(t).toMatchObject({ alias: 'pve1', host: '192.168.1.10', user: 'root', port: 2222, jumps: [] });
    expect(t.identityFiles).toEqual([join(home, '.ssh/id_pve'), join(home, '.ssh/root@192.168.1.10')]);
  });

  it('lets explicit user and port win, and falls back to Host * and defaults', () => {
    expect(resolveSshTarget('pve1', { ...base(), configText: config, user: 'bob', port: 22 })).toMatchObject({ user: 'bob', port: 22 });
    expect(resolveSshTarget('unlisted.lan', { ...base(), configText: config })).toMatchObject({ host: 'unlisted.lan', user: 'fallback', port: 22 });
    expect(resolveSshTarget('x', { ...base(), configText: '' })).toMatchObject({ host: 'x', user: 'alice', port: 22 });
    // Reading a config never runs its `Match exec` programs.
    expect(existsSync('/tmp/shear-should-never-run')).toBe(false);
  });

  it('follows ProxyJump chains, resolving each jump through the config', () => {
    const t = resolveSshTarget('inner', { ...base(), configText: config });
    expect(t.host).toBe('10.0.0.2');
    expect(t.jumps).toEqual([
      { host: 'bastion.example.net', port: 22, user: 'jump', identityFiles: [] },
      { host: 'relay', port: 2200, user: 'ops', identityFiles: [] },
    ]);
  });

  it('reads Include files relative to ~/.ssh', () => {
    expect(resolveSshTarget('included', { ...base(), configText: config })).toMatchObject({ host: '10.9.9.9', user: 'backup' });
  });

  it('rejects ProxyJump loops and bad ports with clear errors', () => {
    expect(() => resolveSshTarget('a', { ...base(), configText: 'Host a\n  ProxyJump b\nHost b\n  ProxyJump a\n' })).toThrow(/loop/);
    expect(() => resolveSshTarget('a', { ...base(), configText: 'Host a\n  Port 99999\n' })).toThrow(/invalid Port/);
  });

  it('parses jump specs', () => {
    expect(parseJumpSpec('host')).toEqual({ host: 'host' });
    expect(parseJumpSpec('u@h:2')).toEqual({ host: 'h', user: 'u', port: 2 });
    expect(parseJumpSpec('ssh://u@[fe80::1]:2222')).toEqual({ host: 'fe80::1', user: 'u', port: 2222 });
  });
});

describe('listing ~/.ssh/config hosts for import', () => {
  it('lists concrete hosts resolved as ssh would, skipping patterns', () => {
    const text = ['Host pve1 pve2', '  HostName 10.0.0.%h', '  User root', 'Host *.lab !bad', '  Port 2222', 'Host inner', '  HostName 10.1.1.1', '  ProxyJump ops@pve1:2200', '  IdentityFile ~/.ssh/inner'].join('\n');
    const hosts = listSshConfigHosts({ configText: text, home: '/home/alice', localUser: 'alice' });
    expect(hosts).toEqual([
      { alias: 'pve1', host: '10.0.0.pve1', port: 22, user: 'root', identityFile: null, jumps: [] },
      { alias: 'pve2', host: '10.0.0.pve2', port: 22, user: 'root', identityFile: null, jumps: [] },
      { alias: 'inner', host: '10.1.1.1', port: 22, user: 'alice', identityFile: '/home/alice/.ssh/inner', jumps: ['ops@10.0.0.pve1:2200'] },
    ]);
  });
});
