/**
 * `npm run bench`: Shear's benchmarks on the lab host (private sshd, TCG QEMU).
 * Not a test: prints numbers, writes bench/results/<date>.json, never gates CI.
 * Every figure is a ratio or a median of runs made side by side in this run,
 * because the machine is shared and noisy. `--only impact,overhead,...` picks cases.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { qemuBinaries } from '../test/lab/qemu.js';
import { benchGuestImpact, type GuestImpact } from './cases/guest-impact.js';
import { benchOverhead, type Overhead } from './cases/overhead.js';
import { benchSparse, type Sparse } from './cases/sparse.js';
import { benchThroughput, type Throughput } from './cases/throughput.js';
import { renderTable } from './table.js';

const CASES = ['impact', 'throughput', 'overhead', 'sparse'] as const;

async function main(): Promise<void> {
  const onlyArg = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);
  const only = new Set(onlyArg ? onlyArg.split(',') : CASES);
  for (const c of only) if (!(CASES as readonly string[]).includes(c)) throw new Error(`unknown case ${c} (known: ${CASES.join(', ')})`);
  const log = (m: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${m}\n`);
  const bins = qemuBinaries();
  const qemuVersion = execFileSync(bins.qemu, ['--version'], { encoding: 'utf8' }).split('\n')[0]?.replace(/^QEMU emulator version /, '') ?? 'unknown';
  const machine = `${cpus()[0]?.model.trim() ?? 'cpu'} × ${cpus().length}, ${Math.round(totalmem() / 1024 ** 3)} GiB RAM, Linux ${release()}`;
  log(`QEMU ${qemuVersion} on ${machine}`);
  const started = Date.now();

  const impact: GuestImpact | null = only.has('impact') ? await benchGuestImpact(log) : null;
  const throughput: Throughput | null = only.has('throughput') ? await benchThroughput(log) : null;
  const overhead: Overhead | null = only.has('overhead') ? await benchOverhead(log) : null;
  const sparse: Sparse | null = only.has('sparse') ? await benchSparse(log) : null;

  const date = new Date().toISOString();
  const result = {
    date,
    machine,
    node: process.version,
    qemuVersion,
    durationS: Math.round((Date.now() - started) / 1000),
    guestImpact: impact ? { ...impact.cases, ratios: impact.ratios, copySpeedRatio: impact.copySpeedRatio, targetBytesPerSecond: impact.targetBytesPerSecond, samplesPerCase: impact.samplesPerCase } : null,
    throughputRatio: throughput?.throughputRatio ?? null,
    throughput,
    setupMs: overhead?.setupMs ?? null,
    teardownMs: overhead?.teardownMs ?? null,
    pauseMs: overhead ? overhead.pauseMs.disks1 : null,
    overhead,
    sparseTimeRatio: sparse?.sparseTimeRatio ?? null,
    sparseSizeRatio: sparse?.sparseSizeRatio ?? null,
    sparse,
  };
  const dir = join(import.meta.dirname, 'results');
  mkdirSync(dir, { recursive: true });
  // A partial run must not replace the day's full result (the README's table comes from it).
  const file = join(dir, `${date.slice(0, 10)}${onlyArg ? `.${[...only].join('-')}` : ''}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${renderTable(result)}\n`);
  log(`wrote ${file} in ${result.durationS} s`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
