import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, openSync, readSync, closeSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The `sha256-4MiB-chunks` checksum computed independently of the engine, in
 * Node, from a raw copy of the image: the known value the host-side hasher is
 * checked against (a checksum must be tested against something it did not make).
 */
export function referenceDigest(image: string, format: 'qcow2' | 'raw', limit?: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'shear-digest-ref-'));
  try {
    const raw = join(dir, 'raw');
    execFileSync('qemu-img', ['convert', '-U', '-f', format, '-O', 'raw', image, raw]);
    const fd = openSync(raw, 'r');
    const chunk = Buffer.alloc(4 * 1024 * 1024);
    const digests: Buffer[] = [];
    let total = 0;
    try {
      for (;;) {
        const want = limit === undefined ? chunk.length : Math.min(chunk.length, limit - total);
        if (want <= 0) break;
        const n = readSync(fd, chunk, 0, want, total);
        if (n === 0) break;
        digests.push(createHash('sha256').update(chunk.subarray(0, n)).digest());
        total += n;
      }
    } finally {
      closeSync(fd);
    }
    return createHash('sha256').update(Buffer.concat(digests)).digest('hex');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
