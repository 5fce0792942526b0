import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SshConnection } from '../../electron/engine/ssh/connect.js';
import { exec, ExecAbortedError, execChecked, RemoteCommandError } from '../../electron/engine/ssh/exec.js';
import { SshHostSession } from '../../electron/engine/hosts/host-session.js';
import { startSshd, type LabSshd } from '../lab/sshd.js';
import { connectToLab } from '../support/ssh-session.js';

let sshd: LabSshd;
let conn: SshConnection;

beforeAll(async () => {
  sshd = await startSshd();
  ({ conn } = await connectToLab(sshd));
});
afterAll(async () => {
  conn?.close();
  await sshd?.stop();
});

/** Whether a process whose command line contains `marker` still runs on this (the lab) machine. */
function running(marker: string): boolean {
  try {
    execFileSync('pgrep', ['-f', marker]);
    return true;
  } catch {
    return false;
  }
}

async function waitGone(marker: string, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!running(marker)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return !running(marker);
}

describe('remote exec from argument arrays', () => {
  it('delivers hostile arguments verbatim through the remote login shell', async () => {
    const hostile = fc.oneof(
      fc.constantFrom("'", '"', "it's", '$(touch /tmp/shear-pwned)', '`touch /tmp/shear-pwned`', '\\', '\\\\n', 'a\nb', ' lead', 'trail ',
        '--help', '-rf', '*', '~root', '$HOME', ';reboot', '&&', '|', '!', '#x', '{a,b}', 'é ü 漢字 🚀', '\t', ''),
      fc.string({ unit: 'grapheme', maxLength: 24 }),
      fc.string({ unit: 'binary', maxLength: 24 }),
    );
    const valid = hostile.filter((s) => !s.includes('\0') && Buffer.from(s).toString() === s);
    await fc.assert(
      fc.asyncProperty(fc.array(valid, { minLength: 1, maxLength: 8 }), async (args) => {
        const r = await execChecked(conn, ['printf', '%s\\0', ...args]);
        const got = r.stdout.split('\0');
        got.pop();
        expect(got).toEqual(args);
      }),
      { numRuns: 60 },
    );
    expect(running('shear-pwned')).toBe(false);
    expect(() => execFileSync('test', ['!', '-e', '/tmp/shear-pwned'])).not.toThrow();
  });

  it('returns stdout, stderr and the exit code', async () => {
    const r = await exec(conn, ['sh', '-c', 'echo out; echo err >&2; exit 7']);
    expect(r).toEqual({ stdout: 'out\n', stderr: 'err\n', code: 7, signal: null });
    const failure = await execChecked(conn, ['sh', '-c', 'echo "disk full" >&2; exit 3']).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(RemoteCommandError);
    expect((failure as Error).message).toMatch(/root@127\.0\.0\.1:\d+: sh failed \(exit code 3\): disk full/);
  });

  it('feeds stdin', async () => {
    const r = await execChecked(conn, ['sha256sum'], { stdin: 'shear\n' });
    expect(r.stdout).toMatch(/^[0-9a-f]{64} {2}-/);
    expect(r.stdout.slice(0, 64)).toBe(execFileSync('sha256sum', { input: 'shear\n' }).toString().slice(0, 64));
  });

  it('times out and stops the remote command', async () => {
    const marker = 'sleep 31.337';
    const started = Date.now();
    const err = await exec(conn, ['sh', '-c', marker], { timeoutMs: 500 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExecAbortedError);
    expect((err as Error).message).toMatch(/timed out after 500 ms/);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(await waitGone(marker, 5_000)).toBe(true);
  });

  it('cancels on an AbortSignal and stops the remote command', async () => {
    const marker = 'sleep 32.337';
    const controller = new AbortController();
    const pending = exec(conn, ['sh', '-c', marker], { signal: controller.signal });
    await new Promise((r) => setTimeout(r, 300));
    expect(running(marker)).toBe(true);
    controller.abort();
    expect(await pending.catch((e: unknown) => e)).toBeInstanceOf(ExecAbortedError);
    expect(await waitGone(marker, 5_000)).toBe(true);
    // The connection stays usable after a cancelled command.
    expect((await execChecked(conn, ['echo', 'still here'])).stdout).toBe('still here\n');
  });
});

describe('commands started together share one channel (host session batching)', () => {
  it('gives each command its own verbatim result, hostile arguments included, over one channel', async () => {
    const session = await SshHostSession.open(async () => (await connectToLab(sshd)).conn);
    try {
      const hostile = ["it's", '$(touch /tmp/shear-pwned)', '`id`', 'a\nb', 'é 漢字 🚀', '', '*', ';reboot'];
      const before = session.stats.execs;
      const results = await Promise.all([
        ...hostile.map((arg) => session.execChecked(['printf', '%s', arg])),
        session.exec(['sh', '-c', 'echo to-stderr >&2; exit 7']),
        session.execChecked(['false']).then(() => 'no error', (err: unknown) => err),
      ]);
      expect(session.stats.execs - before).toBe(1);
      expect(results.slice(0, hostile.length).map((r) => (r as { stdout: string }).stdout)).toEqual(hostile);
      expect(results[hostile.length]).toMatchObject({ code: 7, stderr: 'to-stderr\n', stdout: '' });
      expect(results[hostile.length + 1]).toBeInstanceOf(RemoteCommandError);
      expect(running('shear-pwned')).toBe(false);
      // In a batch each command keeps its own time limit, and a slow one holds up nobody.
      const t0 = Date.now();
      const [slow, quick] = await Promise.allSettled([
        session.exec(['sh', '-c', 'sleep 7; echo shear-batch-timeout-marker'], { timeoutMs: 1_000 }),
        session.exec(['echo', 'quick']).then((r) => ({ ...r, at: Date.now() - t0 })),
      ]);
      expect(slow.status === 'rejected' && slow.reason).toBeInstanceOf(ExecAbortedError);
      expect(Date.now() - t0).toBeLessThan(4_000);
      expect(quick).toMatchObject({ status: 'fulfilled', value: { stdout: 'quick\n', code: 0 } });
      expect((quick as PromiseFulfilledResult<{ at: number }>).value.at).toBeLessThan(900);
      expect(running('shear-batch-timeout-marker')).toBe(false);
      // A lone command still runs on its own, with its own timeout.
      await expect(session.exec(['sleep', '5'], { timeoutMs: 300 })).rejects.toBeInstanceOf(ExecAbortedError);
    } finally {
      session.close();
    }
  });
});
