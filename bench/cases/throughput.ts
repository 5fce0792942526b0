import { contentDigest } from '../../electron/engine/archive/content-digest.js';
import { DirStorage } from '../../electron/engine/storage/dir.js';
import { guestWrite } from '../../test/lab/guest-io.js';
import { startBenchLab, timedBackup } from '../lab.js';
import { median, ratio, round } from '../stats.js';

/**
 * Case 2: a whole Shear backup of a 1 GiB disk full of data against the physical
 * limit, `qemu-img convert` of the same disk to the same target folder on the
 * same host (started over the same SSH session). Runs alternate.
 */
const GiB = 1024 ** 3;
const RUNS = 5;

export interface Throughput {
  shearMs: number;
  convertMs: number;
  throughputRatio: number;
  /** QEMU's backup job alone (Shear's `copy` step) against the convert: what is QEMU's. */
  copyMs: number;
  copyRatio: number;
  /** The content checksum of the 1 GiB archive (every run computes one). */
  checksumMs: number;
  /** Median of each step of Shear's run: where the fixed cost on top of the copy goes. */
  stepsMs: Record<string, number>;
  diskBytes: number;
}

export async function benchThroughput(log: (m: string) => void): Promise<Throughput> {
  const b = await startBenchLab([{ name: 'big', disks: [{ id: 'vd0', bus: 'virtio', format: 'qcow2', sizeBytes: GiB }] }]);
  try {
    const vm = b.lab.vm('big');
    await guestWrite(vm, 'vd0', { offset: 0, length: GiB, pattern: 0x3c });
    const storage = new DirStorage(b.folder('fleece'));
    const target = b.folder('target');
    const shear: number[] = [];
    const copy: number[] = [];
    const steps = new Map<string, number[]>();
    const checksum: number[] = [];
    const convert: number[] = [];
    // Both start with no dirty pages (else one pays for the other's writeback) and end with
    // their copy on disk: Shear's archive is synced before it counts, so the convert is too.
    const settle = () => b.host.execChecked(['sync'], { timeoutMs: 600_000 });
    for (let i = 0; i < RUNS; i++) {
      await settle();
      const r = await timedBackup(b, 'big', { targetDir: target, fleecing: { storage, format: 'qcow2' }, pollIntervalMs: 100 });
      shear.push(r.wallMs);
      copy.push(r.steps.copy ?? Number.NaN);
      for (const [name, ms] of Object.entries(r.steps)) steps.set(name, [...(steps.get(name) ?? []), ms]);
      log(`throughput run ${i + 1}: shear ${Math.round(r.wallMs)} ms (${Object.entries(r.steps).map(([k, v]) => `${k} ${Math.round(v)}`).join(', ')} ms)`);
      // What the content checksum (part of every run's verify step) costs on its own.
      const t1 = performance.now();
      await contentDigest(b.host, `${r.archiveDir}/vd0.qcow2`, 'qcow2');
      checksum.push(performance.now() - t1);
      await b.host.execChecked(['rm', '-rf', '--', r.archiveDir]);
      await settle();
      const out = `${target}/convert-${i}.qcow2`;
      const t0 = performance.now();
      // -U: the running QEMU holds the image; the same read Shear's job does, without the job.
      await b.host.execChecked(['sh', '-c', 'qemu-img convert -U -f qcow2 -O qcow2 -- "$1" "$2" && sync -- "$2"', 'bench-convert', vm.disk('vd0').path, out], { timeoutMs: 600_000 });
      convert.push(performance.now() - t0);
      log(`throughput run ${i + 1}: qemu-img convert ${Math.round(performance.now() - t0)} ms`);
      await b.host.execChecked(['rm', '-f', '--', out]);
    }
    const result: Throughput = {
      shearMs: round(median(shear), 0),
      convertMs: round(median(convert), 0),
      throughputRatio: ratio(median(shear), median(convert)),
      copyMs: round(median(copy), 0),
      copyRatio: ratio(median(copy), median(convert)),
      checksumMs: round(median(checksum), 0),
      stepsMs: Object.fromEntries([...steps].map(([name, ms]) => [name, round(median(ms), 0)])),
      diskBytes: GiB,
    };
    log(`throughput: shear ${result.shearMs} ms, qemu-img convert ${result.convertMs} ms, ratio ${result.throughputRatio}`);
    return result;
  } finally {
    await b.stop();
  }
}
