import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contentDigestArgv, DIGEST_CHUNK } from '../../electron/engine/archive/content-digest.js';
import type { SshHostSession } from '../../electron/engine/hosts/host-session.js';
import { startLabHost, type LabHost } from '../lab/lab-host.js';
import { labFolder, labSession, MiB } from '../support/backup-harness.js';
import { referenceDigest } from '../support/content-digest.js';

/**
 * The host-side hasher (sha256-4MiB-chunks) against images of every layout, run over SSH
 * on the lab host as backups and restores run it, checked against an independent digest.
 */
let lab: LabHost;
let host: SshHostSession;
let dir: string;

beforeAll(async () => {
  lab = await startLabHost({ vms: [] });
  host = await labSession(lab);
  dir = labFolder(lab, 'images');
});
afterAll(async () => {
  host?.close();
  await lab?.stop();
});

const img = (...args: string[]) => execFileSync('qemu-img', args);
const io = (format: string, file: string, ...cmds: string[]) => execFileSync('qemu-io', ['-f', format, ...cmds.flatMap((c) => ['-c', c]), file]);

async function hostDigest(file: string, format: string, prefix: string[] = []): Promise<{ digest: string; dataChunks: number; zeroChunks: number }> {
  const r = await host.exec([...prefix, ...contentDigestArgv(file, format)], { timeoutMs: 120_000 });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { digest: string; dataChunks: number; zeroChunks: number };
}

describe('content checksum on the host', () => {
  it('matches an independent digest for data, zero and partly written chunks, odd sizes and backing files', async () => {
    const a = join(dir, 'mixed.qcow2');
    img('create', '-q', '-f', 'qcow2', a, String(1024 * MiB));
    // Data across chunk edges, explicit zeros, data near the end.
    io('qcow2', a, 'write -P 0x11 0 3M', 'write -P 0x22 5M 7M', 'write -z 20M 8M', 'write -P 0x33 1000M 9M');
    const b = join(dir, 'odd.raw');
    img('create', '-q', '-f', 'raw', b, String(10 * MiB + 512));
    io('raw', b, 'write -P 0x44 4M 1M', 'write -P 0x55 10M 512');
    const c = join(dir, 'overlay.qcow2');
    img('create', '-q', '-f', 'qcow2', '-b', a, '-F', 'qcow2', c);
    io('qcow2', c, 'write -P 0x66 6M 1M');
    for (const [file, format] of [[a, 'qcow2'], [b, 'raw'], [c, 'qcow2']] as const) {
      expect((await hostDigest(file, format)).digest, file).toBe(referenceDigest(file, format));
    }
  });

  it('hashes a 16 TiB empty disk in bounded memory (1 GiB address space) and in seconds', async () => {
    const big = join(dir, 'big.qcow2');
    img('create', '-q', '-f', 'qcow2', big, '16T');
    const chunks = (16 * 1024 ** 4) / DIGEST_CHUNK;
    const started = Date.now();
    const sum = await hostDigest(big, 'qcow2', ['prlimit', '--as=1073741824', '--']);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(sum).toMatchObject({ dataChunks: 0, zeroChunks: chunks });
    const zero = createHash('sha256').update(Buffer.alloc(DIGEST_CHUNK)).digest();
    const top = createHash('sha256');
    const block = Buffer.concat(Array.from({ length: 65536 }, () => zero));
    for (let left = chunks; left > 0; left -= 65536) top.update(left >= 65536 ? block : block.subarray(0, left * 32));
    expect(sum.digest).toBe(top.digest('hex'));
  });
});
