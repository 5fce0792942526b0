import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { Manifest, RunEvent, VmSummary } from '../../shared/model.js';
import { listVms } from '../../electron/engine/hosts/discovery.js';
import { SshHostSession } from '../../electron/engine/hosts/host-session.js';
import type { LabHost } from '../lab/lab-host.js';
import type { LabVm } from '../lab/qemu.js';
import { guestRead, guestWrite } from '../lab/guest-io.js';
import { listBlockNodes } from '../lab/image.js';
import { connectToLab } from './ssh-session.js';

export const MiB = 1024 * 1024;

/** A reconnecting engine session to the lab host, as the CLI would open one. */
export async function labSession(lab: LabHost): Promise<SshHostSession> {
  return SshHostSession.open(async () => (await connectToLab(lab.sshd)).conn, { delaysMs: [100, 250, 500, 1_000], giveUpAfterMs: 30_000 });
}

export async function findVm(host: SshHostSession, name: string): Promise<VmSummary> {
  const vm = (await listVms(host)).find((v) => v.name === name);
  if (!vm) throw new Error(`lab VM ${name} not discovered`);
  return vm;
}

export function eventLog(): { events: RunEvent[]; emit: (e: RunEvent) => void; firstProgress: Promise<void> } {
  const events: RunEvent[] = [];
  let resolveProgress: () => void = () => {};
  const firstProgress = new Promise<void>((r) => (resolveProgress = r));
  return {
    events,
    firstProgress,
    emit: (e) => {
      events.push(e);
      if (e.type === 'progress') resolveProgress();
    },
  };
}

/** Lives with the lab (no vitest import), so the bench's CLI runner can use it too. */
export { labFolder } from '../lab/lab-host.js';

export function readManifest(archiveDir: string): Manifest {
  return JSON.parse(readFileSync(join(archiveDir, 'manifest.json'), 'utf8')) as Manifest;
}

/** Files in a folder whose names follow the fleecing schema. */
export function fleeceFiles(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((f) => /^vm-.+-fleece-\d+(\.(qcow2|raw))?$/.test(f)).sort() : [];
}

/**
 * The state every run must leave: no shear- node or job inside QEMU, every
 * device on its original node, the VM in its original run state, and a guest
 * write that succeeds.
 */
export async function expectPristine(vm: LabVm, original: { nodes: string[]; runState: string }): Promise<void> {
  const nodes = await listBlockNodes(vm);
  expect(nodes.filter((n) => n.startsWith('shear-'))).toEqual([]);
  expect([...nodes].sort()).toEqual([...original.nodes].sort());
  const { jobs, status, blocks } = await vm.qmp(async (q) => ({
    jobs: await q.execute('query-jobs'),
    status: await q.execute('query-status'),
    blocks: await q.execute('query-block'),
  }));
  expect(jobs).toEqual([]);
  expect(status.status).toBe(original.runState);
  for (const disk of vm.disks) {
    // query-block names a device by its id when it has one, else by its QOM path.
    const qdevOf = (q: string | undefined) => (q && !q.startsWith('/') ? `/machine/peripheral/${q}` : q);
    const block = blocks.find((b) => (disk.blockBackend ? b.device === disk.blockBackend : qdevOf(b.qdev) === disk.qdevPath));
    expect(block?.inserted?.['node-name'], `${disk.id} node`).toBeTruthy();
    expect(block?.inserted?.['node-name']?.startsWith('shear-')).toBe(false);
  }
  const data = vm.disks.find((d) => d.bus !== 'efivars');
  if (data) {
    await guestWrite(vm, data.id, { offset: 0, length: 64 * 1024, pattern: 0x5a });
    await guestRead(vm, data.id, { offset: 0, length: 64 * 1024, pattern: 0x5a });
  }
}

/** Node names and run state before a test touches the VM. */
export async function snapshotState(vm: LabVm): Promise<{ nodes: string[]; runState: string }> {
  return { nodes: await listBlockNodes(vm), runState: (await vm.qmp((q) => q.execute('query-status'))).status };
}

