import { contentDigest } from '../../electron/engine/archive/content-digest.js';
import { DirStorage } from '../../electron/engine/storage/dir.js';
import { guestWrite } from '../../test/lab/guest-io.js';
import { startBenchLab, timedBackup } from '../lab.js';
import { median, ratio, round } from '../stats.js';

/**
 * Case 4: an 8 GiB virtual disk holding 64 MiB of data against a 64 MiB disk
 * with the same data: a backup must cost about the data, not the virtual size.
 */
const MiB = 1024 * 1024;
const RUNS = 3;

export interface Sparse {
  sparseMs: number;
  smallMs: number;
  sparseBytes: number;
  smallBytes: number;
  sparseTimeRatio: number;
  sparseSizeRatio: number;
  /** Content checksum of each archive: zeros are hashed without reading. */
  checksumSparseMs: number;
  checksumSmallMs: number;
}

export async function benchSparse(log: (m: string) => void): Promise<Sparse> {
  const b = await startBenchLab([
    { name: 'sparse', disks: [{ id: 'vd0', bus: 'virtio', format: 'qcow2', sizeBytes: 8192 * MiB }] },
    { name: 'small', disks: [{ id: 'vd0', bus: 'virtio', format: 'qcow2', sizeBytes: 64 * MiB }] },
  ]);
  try {
    for (const name of ['sparse', 'small']) await guestWrite(b.lab.vm(name), 'vd0', { offset: 0, length: 64 * MiB, pattern: 0x5e });
    const storage = new DirStorage(b.folder('fleece'));
    const target = b.folder('target');
    const times: Record<string, number[]> = { sparse: [], small: [] };
    const sizes: Record<string, number> = {};
    const checksums: Record<string, number[]> = { sparse: [], small: [] };
    for (let i = 0; i < RUNS; i++) {
      for (const name of ['sparse', 'small']) {
        const r = await timedBackup(b, name, { targetDir: target, fleecing: { storage, format: 'qcow2' }, pollIntervalMs: 100 });
        times[name]?.push(r.wallMs);
        // Bytes the archive really occupies on the target.
        sizes[name] = Number((await b.host.execChecked(['du', '-s', '-B1', '--', r.archiveDir])).stdout.split(/\s/)[0]);
        const t1 = performance.now();
        await contentDigest(b.host, `${r.archiveDir}/vd0.qcow2`, 'qcow2');
        checksums[name]?.push(performance.now() - t1);
        await b.host.execChecked(['rm', '-rf', '--', r.archiveDir]);
      }
    }
    const sparseMs = median(times.sparse ?? []);
    const smallMs = median(times.small ?? []);
    const out: Sparse = {
      sparseMs: round(sparseMs, 0),
      smallMs: round(smallMs, 0),
      sparseBytes: sizes.sparse ?? 0,
      smallBytes: sizes.small ?? 0,
      sparseTimeRatio: ratio(sparseMs, smallMs),
      sparseSizeRatio: ratio(sizes.sparse ?? 0, sizes.small ?? 1),
      checksumSparseMs: round(median(checksums.sparse ?? []), 0),
      checksumSmallMs: round(median(checksums.small ?? []), 0),
    };
    log(`sparse: ${out.sparseMs} ms vs ${out.smallMs} ms, ${out.sparseBytes} vs ${out.smallBytes} bytes`);
    return out;
  } finally {
    await b.stop();
  }
}
