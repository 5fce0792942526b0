import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { batchArgv, parseBatchOutput } from '../../electron/engine/ssh/exec-batch.js';

/** The batch script run by the local sh, exactly as sshd's login shell would get it (argv, no shell line). */
function runLocally(commands: string[][]): Buffer {
  const [sh, ...args] = batchArgv(commands);
  return execFileSync(sh as string, args, { stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('exec batching', () => {
  it('keeps each command\'s stdout, stderr and exit status apart, byte-exact', () => {
    const commands = [
      ['printf', '%s', 'héllo\nwörld'],
      ['sh', '-c', 'echo out; echo err >&2; exit 3'],
      ['true'],
      ['printf', "it's $HOME `x` \"q\""],
      ['sh', '-c', 'sleep 0.2; printf late'],
    ];
    const results = parseBatchOutput(runLocally(commands), commands.length);
    expect(results).toEqual([
      { stdout: 'héllo\nwörld', stderr: '', code: 0, signal: null },
      { stdout: 'out\n', stderr: 'err\n', code: 3, signal: null },
      { stdout: '', stderr: '', code: 0, signal: null },
      { stdout: "it's $HOME `x` \"q\"", stderr: '', code: 0, signal: null },
      { stdout: 'late', stderr: '', code: 0, signal: null },
    ]);
  });

  it('runs the commands at the same time', () => {
    const t0 = Date.now();
    runLocally(Array.from({ length: 4 }, () => ['sleep', '0.3']));
    expect(Date.now() - t0).toBeLessThan(1_000);
  });

  it('refuses output that does not add up', () => {
    expect(() => parseBatchOutput(Buffer.from('0 10 0\nshort'), 1)).toThrow(/cut short/);
    expect(() => parseBatchOutput(Buffer.from('0 0 0\n'), 2)).toThrow(/command 2 of 2: no result header/);
    expect(() => parseBatchOutput(Buffer.from('zero 0 0\n'), 1)).toThrow(/bad result header/);
  });
});
