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
const RUNS = 3;

export interface Throughput {
  shearMs: number;
  convertMs: number;
  throughputRatio: number;
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
    const convert: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const r = await timedBackup(b, 'big', { targetDir: target, fleecing: { storage, format: 'qcow2' }, pollIntervalMs: 200 });
      shear.push(r.wallMs);
      await b.host.execChecked(['rm', '-rf', '--', r.archiveDir]);
      const out = `${target}/convert-${i}.qcow2`;
      const t0 = performance.now();
      // -U: the running QEMU holds the image; the same read Shear's job does, without the job.
      await b.host.execChecked(['qemu-img', 'convert', '-U', '-f', 'qcow2', '-O', 'qcow2', vm.disk('vd0').path, out], { timeoutMs: 600_000 });
      convert.push(performance.now() - t0);
      await b.host.execChecked(['rm', '-f', '--', out]);
    }
    const result = { shearMs: round(median(shear), 0), convertMs: round(median(convert), 0), throughputRatio: ratio(median(shear), median(convert)), diskBytes: GiB };
    log(`throughput: shear ${result.shearMs} ms, qemu-img convert ${result.convertMs} ms, ratio ${result.throughputRatio}`);
    return result;
  } finally {
    await b.stop();
  }
}
