import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { shellCommand, shellQuote } from '../../electron/engine/ssh/quote.js';

/** Runs the quoted words through a real POSIX shell and returns the argv it saw. */
function throughShell(args: string[]): string[] {
  const out = execFileSync('/bin/sh', ['-c', `printf '%s\\0' ${args.map(shellQuote).join(' ')}`]);
  const parts = out.toString('utf8').split('\0');
  parts.pop();
  return parts;
}

describe('shellQuote', () => {
  it('leaves plain words readable and quotes everything else', () => {
    expect(shellQuote('qemu-img')).toBe('qemu-img');
    expect(shellQuote('/var/lib/vz/images/100/vm-100-fleece-0.qcow2')).toBe('/var/lib/vz/images/100/vm-100-fleece-0.qcow2');
    expect(shellQuote('')).toBe("''");
    expect(shellQuote('a b')).toBe("'a b'");
    expect(shellQuote("it's")).toBe("'it'\\''s'");
  });

  it('refuses NUL, which no shell word can carry', () => {
    expect(() => shellQuote('a\0b')).toThrow(/NUL/);
  });

  it('refuses an empty command', () => {
    expect(() => shellCommand([])).toThrow(/empty/);
  });

  it('round-trips hostile strings through /bin/sh verbatim', () => {
    const hostile = fc.oneof(
      fc.constantFrom("'", '"', '$(id)', '`id`', '\\', '\n', ' ', '--help', '-rf', '*', '~', '$HOME', ';', '&&', '|', '!', '#', '{a,b}', 'é ü 漢字 🚀'),
      fc.string({ unit: 'grapheme', maxLength: 30 }),
      fc.string({ unit: 'binary', maxLength: 30 }),
    );
    fc.assert(
      fc.property(fc.array(hostile.filter((s) => !s.includes('\0') && Buffer.from(s).toString() === s), { minLength: 1, maxLength: 6 }), (args) => {
        expect(throughShell(args)).toEqual(args);
      }),
      { numRuns: 200 },
    );
  });
});
