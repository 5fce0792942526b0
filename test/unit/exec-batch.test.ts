import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { ExecResult } from '../../electron/engine/ssh/exec.js';
import { BatchOutputParser, batchArgv } from '../../electron/engine/ssh/exec-batch.js';

/**
 * The batch script run by the local sh, exactly as sshd's login shell would get it
 * (argv, no shell line); results are collected as the parser hands them out, with
 * the time each arrived.
 */
function runLocally(commands: string[][]): Promise<Array<{ index: number; result: ExecResult; at: number }>> {
  const [sh, ...args] = batchArgv(commands);
  const parser = new BatchOutputParser(commands.length);
  const got: Array<{ index: number; result: ExecResult; at: number }> = [];
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(sh as string, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout.on('data', (chunk: Buffer) => {
      for (const r of parser.push(chunk)) got.push({ ...r, at: Date.now() - t0 });
    });
    child.on('close', (code) => (code === 0 && parser.missing().length === 0 ? resolve(got) : reject(new Error(`batch exit ${code}, missing ${parser.missing().join(',')}`))));
  });
}

describe('exec batching', () => {
  it('keeps each command\'s stdout, stderr and exit status apart, byte-exact', async () => {
    const commands = [
      ['printf', '%s', 'héllo\nwörld'],
      ['sh', '-c', 'echo out; echo err >&2; exit 3'],
      ['true'],
      ['printf', "it's $HOME `x` \"q\""],
      ['sh', '-c', 'head -c 300000 /dev/zero | tr "\\0" x'],
    ];
    const got = await runLocally(commands);
    const byIndex = Object.fromEntries(got.map((g) => [g.index, g.result]));
    expect(byIndex).toEqual({
      0: { stdout: 'héllo\nwörld', stderr: '', code: 0, signal: null },
      1: { stdout: 'out\n', stderr: 'err\n', code: 3, signal: null },
      2: { stdout: '', stderr: '', code: 0, signal: null },
      3: { stdout: "it's $HOME `x` \"q\"", stderr: '', code: 0, signal: null },
      4: { stdout: 'x'.repeat(300000), stderr: '', code: 0, signal: null },
    });
  });

  it('runs the commands at the same time and hands out each result when it is done', async () => {
    const got = await runLocally([['sleep', '0.8'], ['true'], ['sleep', '0.3']]);
    expect(got.map((g) => g.index)).toEqual([1, 2, 0]);
    expect(got.find((g) => g.index === 1)?.at).toBeLessThan(500);
    expect(got.find((g) => g.index === 0)?.at).toBeLessThan(1_500);
  });

  it('waits for a result cut across chunks and refuses output that does not add up', () => {
    const p = new BatchOutputParser(2);
    expect(p.push(Buffer.from('2 0 5 0\nab'))).toEqual([]);
    expect(p.push(Buffer.from('cde1 1 0 2\n'))).toEqual([{ index: 1, result: { stdout: 'abcde', stderr: '', code: 0, signal: null } }]);
    expect(p.missing()).toEqual([0]);
    expect(p.push(Buffer.from('er'))).toEqual([{ index: 0, result: { stdout: '', stderr: 'er', code: 1, signal: null } }]);
    expect(() => new BatchOutputParser(1).push(Buffer.from('zero 0 0 0\n'))).toThrow(/bad result header/);
    expect(() => new BatchOutputParser(1).push(Buffer.from('3 0 0 0\n'))).toThrow(/unexpected result for command 3/);
  });
});
