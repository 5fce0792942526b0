import { describe, expect, it } from 'vitest';
import { formatAge, formatBytes, formatDuration, formatEta, formatExactBytes, formatRate } from '../../renderer/format';
import { errorText, parseHostKeyChanged, toUiError } from '../../renderer/store/errors';
import { apiError } from './fake-api';

describe('formatters', () => {
  it('formats sizes in binary units', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(33_554_432)).toBe('32.0 MiB');
    expect(formatBytes(540_672)).toBe('528 KiB');
    expect(formatBytes(1.5 * 1024 ** 3)).toBe('1.5 GiB');
    expect(formatExactBytes(33_554_432)).toBe('33\u202f554\u202f432 B');
  });

  it('formats rates, ETAs, durations and ages', () => {
    expect(formatRate(5 * 1024 * 1024)).toBe('5.0 MiB/s');
    expect(formatRate(0)).toBe('— MiB/s');
    expect(formatEta(null)).toBe('—');
    expect(formatEta(4)).toBe('0:04');
    expect(formatEta(3723)).toBe('1:02:03');
    expect(formatDuration(350)).toBe('350 ms');
    expect(formatDuration(4200)).toBe('4.2 s');
    expect(formatDuration(185_000)).toBe('3 min 05 s');
    expect(formatAge(2 * 86_400_000)).toBe('2 d');
  });
});

describe('errors', () => {
  it('puts a hint for the kind before the engine message', () => {
    expect(errorText(apiError('x: authentication failed', 'auth'))).toMatch(/^Authentication failed: check the user name.*\(x: authentication failed\)$/);
    expect(errorText(apiError('x: host key ssh-ed25519 SHA256:a was not trusted', 'host-key-unknown'))).toMatch(/not trusted/);
    expect(errorText(new Error('plain'))).toBe('plain');
  });

  it('infers the kind when it was lost on the way (contextBridge drops custom error properties)', () => {
    expect(toUiError(new Error('root@h:22: HOST KEY CHANGED: the server offered ssh-ed25519 SHA256:x, but /k has SHA256:y for it.')).kind).toBe('host-key-changed');
    expect(toUiError(new Error('root@h:22: host key ssh-ed25519 SHA256:x was not trusted')).kind).toBe('host-key-unknown');
    expect(toUiError(apiError('m', 'auth')).kind).toBe('auth');
    expect(toUiError(new Error('plain')).kind).toBeUndefined();
  });

  it('reads both fingerprints from a HOST KEY CHANGED message', () => {
    expect(parseHostKeyChanged('Error: u@h:22: HOST KEY CHANGED: x').target).toBe('u@h:22');
    const c = parseHostKeyChanged('u@h:22: HOST KEY CHANGED: the server offered ssh-rsa SHA256:AAA=, but /k has SHA256:BBB for it.');
    expect(c).toMatchObject({ target: 'u@h:22', offered: 'SHA256:AAA=', known: ['SHA256:BBB'] });
  });
});
