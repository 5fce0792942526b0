/**
 * A whole lab host: one private sshd and any number of QEMU VMs in one temp dir, stopped
 * together. Use it from vitest as
 *
 *   let lab: LabHost;
 *   beforeAll(async () => { lab = await startLabHost({ vms: [...] }); });
 *   afterAll(async () => { await lab?.stop(); });
 *
 * (or `useLabHost()` from use-lab-host.ts, which registers exactly that). afterAll runs also
 * when tests fail; a Node exit without it still kills the processes (processes.ts).
 */
import { mkdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { removeDirAtExit } from './processes.js';
import { startVm, type LabVm } from './qemu.js';
import { startSshd, type LabSshd, type SshdOptions } from './sshd.js';
import { tempDir } from './tools.js';
import type { VmSpec } from './vm-spec.js';

export interface LabHostOptions {
  vms?: VmSpec[];
  sshd?: Omit<SshdOptions, 'parentDir'>;
  /** Temp dir name prefix (default `shear-lab-`); tests of the lab use it to find leftovers. */
  dirPrefix?: string;
}

export interface LabHost {
  /** Holds everything: `sshd/`, one dir per VM. Removed by `stop()`. */
  dir: string;
  sshd: LabSshd;
  vms: ReadonlyMap<string, LabVm>;
  /** The VM with this name, or a clear error. */
  vm(name: string): LabVm;
  /** Stops every VM and the sshd (by PID), waits for them, removes `dir`. Idempotent. */
  stop(): Promise<void>;
}

/** Stops everything given, each on its own (one failure never skips the others), then rethrows. */
async function stopAll(dir: string, parts: Array<{ stop(): Promise<void> }>, forgetDir: () => void): Promise<void> {
  const results = await Promise.allSettled(parts.map((p) => p.stop()));
  await rm(dir, { recursive: true, force: true });
  forgetDir();
  const errors = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
  if (errors.length > 0) {
    throw new AggregateError(errors, `lab teardown: ${errors.map((e) => e.message).join('; ')}`);
  }
}

/** Starts the sshd and the VMs in parallel; on any failure stops what started and rethrows. */
export async function startLabHost(options: LabHostOptions = {}): Promise<LabHost> {
  const specs = options.vms ?? [];
  const names = specs.map((s) => s.name);
  const duplicate = names.find((n, i) => names.indexOf(n) !== i);
  if (duplicate !== undefined) throw new Error(`lab: two VMs named ${duplicate}`);

  const dir = await tempDir(options.dirPrefix ?? 'shear-lab-');
  const forgetDir = removeDirAtExit(dir);
  const [sshdResult, ...vmResults] = await Promise.allSettled([
    startSshd({ ...options.sshd, parentDir: dir }),
    ...specs.map((spec) => startVm(spec, { parentDir: dir })),
  ]);

  const started: Array<{ stop(): Promise<void> }> = [];
  const errors: Error[] = [];
  for (const result of [sshdResult, ...vmResults]) {
    if (result?.status === 'fulfilled') started.push(result.value);
    else if (result?.status === 'rejected') errors.push(result.reason as Error);
  }
  if (errors.length > 0 || sshdResult?.status !== 'fulfilled') {
    await stopAll(dir, started, forgetDir).catch(() => {
      // The start error is the one to report; teardown errors would hide it.
    });
    const message = errors.map((e) => e.message).join('\n---\n');
    throw errors.length === 1 ? errors[0] : new AggregateError(errors, `lab start failed:\n${message}`);
  }

  const sshd = sshdResult.value;
  const vms = new Map<string, LabVm>();
  for (const r of vmResults) if (r.status === 'fulfilled') vms.set(r.value.name, r.value);

  let stopping: Promise<void> | null = null;
  return {
    dir,
    sshd,
    vms,
    vm: (name: string) => {
      const vm = vms.get(name);
      if (!vm) throw new Error(`lab has no VM ${JSON.stringify(name)} (has: ${[...vms.keys()].join(', ') || 'none'})`);
      return vm;
    },
    stop: () => {
      stopping ??= stopAll(dir, [...vms.values(), sshd], forgetDir);
      return stopping;
    },
  };
}

/** A folder under the lab dir (made if missing, removed with the lab). */
export function labFolder(lab: Pick<LabHost, 'dir'>, name: string): string {
  const dir = join(lab.dir, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}
