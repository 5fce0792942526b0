import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { RunEvent } from '../shared/model.js';
import { listVms } from '../electron/engine/hosts/discovery.js';
import { SshHostSession } from '../electron/engine/hosts/host-session.js';
import { runBackup, type BackupOptions } from '../electron/engine/backup/run-backup.js';
import { startLabHost, type LabHost } from '../test/lab/lab-host.js';
import type { VmSpec } from '../test/lab/vm-spec.js';
import { connectToLab } from '../test/support/ssh-session.js';

/**
 * The benchmark's lab: the same private sshd and TCG QEMU the integration tests
 * use, reached over SSH on loopback exactly as the CLI reaches a host.
 */
export interface BenchLab {
  lab: LabHost;
  host: SshHostSession;
  folder(name: string): string;
  stop(): Promise<void>;
}

export async function startBenchLab(vms: VmSpec[]): Promise<BenchLab> {
  const lab = await startLabHost({ vms, dirPrefix: 'shear-bench-' });
  try {
    const host = await SshHostSession.open(async () => (await connectToLab(lab.sshd)).conn);
    return {
      lab,
      host,
      folder: (name) => {
        const dir = join(lab.dir, name);
        mkdirSync(dir, { recursive: true });
        return dir;
      },
      stop: async () => {
        host.close();
        await lab.stop();
      },
    };
  } catch (err) {
    await lab.stop();
    throw err;
  }
}

export interface TimedRun {
  wallMs: number;
  /** Start of the run → every job running (the `start` step done). */
  setupMs: number;
  /** Jobs done (the `copy` step done) → teardown finished. */
  teardownMs: number;
  pauseMs: number;
  sshChannels: number;
  qmpSessions: number;
  archiveDir: string;
  steps: Record<string, number>;
}

/** One whole Shear backup through the engine, as the CLI runs it, with its timings. */
export async function timedBackup(b: BenchLab, vmName: string, o: Omit<BackupOptions, 'host' | 'vm' | 'emit' | 'toolVersion' | 'journalDir'>): Promise<TimedRun> {
  const vm = (await listVms(b.host)).find((v) => v.name === vmName);
  if (!vm) throw new Error(`bench VM ${vmName} not found`);
  const events: Array<RunEvent & { at: number }> = [];
  const before = { ...b.host.stats };
  const t0 = performance.now();
  const result = await runBackup({
    ...o,
    host: b.host,
    vm,
    toolVersion: 'bench',
    journalDir: b.folder('journal'),
    emit: (e) => events.push({ ...e, at: performance.now() }),
  });
  const wallMs = performance.now() - t0;
  const at = (step: string) => {
    const e = events.find((x) => x.type === 'step' && x.step === step && x.state === 'done');
    if (!e) throw new Error(`step ${step} never finished`);
    return e.at;
  };
  const steps: Record<string, number> = {};
  for (const e of events) if (e.type === 'step' && e.state === 'done') steps[e.step] = e.ms ?? 0;
  return {
    wallMs,
    setupMs: at('start') - t0,
    teardownMs: at('teardown') - at('copy'),
    pauseMs: result.manifest.pauseMs,
    sshChannels: b.host.stats.execs + b.host.stats.holds + b.host.stats.qmpStreams - (before.execs + before.holds + before.qmpStreams),
    qmpSessions: b.host.stats.qmpStreams - before.qmpStreams,
    archiveDir: result.archiveDir,
    steps,
  };
}
