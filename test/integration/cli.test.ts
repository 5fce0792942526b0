import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLabHost, type LabHost } from '../lab/lab-host.js';
import { expectPristine, fleeceFiles, labFolder, MiB, readManifest, snapshotState } from '../support/backup-harness.js';
import { expectPointInTime, seedBeforeBackup, writeDuringCopy } from '../support/backup-scenario.js';
import { labCli, runShear, type CliOptions } from '../support/cli-runner.js';

/**
 * The `shear` command as a user runs it: a real Node process (no test
 * transform), real SSH to the lab host, output parsed from stdout.
 */
let lab: LabHost;
let home: string;
let hostArgs: () => string[];

beforeAll(async () => {
  lab = await startLabHost({
    vms: [{ name: 'app', disks: [{ id: 'vd0', bus: 'virtio', format: 'qcow2', sizeBytes: 32 * MiB }, { id: 'scsi0', bus: 'scsi', format: 'raw', sizeBytes: 32 * MiB + 512 }] }],
  });
  ({ home, hostArgs } = labCli(lab));
});
afterAll(async () => {
  await lab?.stop();
});

// A private HOME: no ~/.ssh of the machine running the tests leaks in.
const shear = (args: string[], o: CliOptions = {}) => runShear(args, { ...o, env: { HOME: home } });


describe('shear CLI', () => {
  it('lists the VMs of a host with their disks', async () => {
    const human = await shear(['vms', ...hostArgs()]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^app\trunning\tQEMU \d+\.\d+\.\d+/m);
    expect(human.stdout).toMatch(/^ {2}scsi0\t32\.0 MiB\traw\tdisk\t/m);
    const json = await shear(['vms', ...hostArgs(), '--json']);
    expect(json.code).toBe(0);
    // Log lines may come too; every line is a typed JSON object.
    expect(json.lines.every((l) => l.type === 'vm' || l.type === 'log')).toBe(true);
    // Only this lab's VM matters (a developer machine may run other QEMUs).
    const vms = json.lines.filter((l) => l.type === 'vm' && l.id === 'app');
    expect(vms).toHaveLength(1);
    expect(vms[0]).toMatchObject({ type: 'vm', id: 'app', runState: 'running' });
    expect((vms[0]?.disks as Array<{ device: string; sizeBytes: number }>).map((d) => [d.device, d.sizeBytes])).toEqual([['scsi0', 32 * MiB + 512], ['vd0', 32 * MiB]]);
  });

  it('backs up with --json: log, progress and a final result; exit 0; point in time kept', async () => {
    const vm = lab.vm('app');
    const before = await snapshotState(vm);
    await seedBeforeBackup(vm);
    const target = labFolder(lab, 'cli-archive');
    const fleece = labFolder(lab, 'cli-fleece');
    let wrote: Promise<void> | null = null;
    const run = await shear(
      ['backup', ...hostArgs(), '--vm', 'app', '--target', `dir:${target}`, '--fleecing-storage', `dir:${fleece}`, '--bwlimit', '24', '--json'],
      { onStdoutLine: (line) => void (line.type === 'progress' && !wrote && (wrote = writeDuringCopy(vm))) },
    );
    await wrote;
    expect(run.code, run.stderr).toBe(0);
    const types = new Set(run.lines.map((l) => l.type));
    expect([...types].sort()).toEqual(['log', 'progress', 'result', 'warning']);
    expect(run.lines.filter((l) => l.type === 'warning').some((l) => /crash-consistent/.test(String(l.message)))).toBe(true);
    const result = run.lines.at(-1);
    expect(result).toMatchObject({ type: 'result', ok: true });
    const archive = String(result?.archive);
    expect(readManifest(archive).disks.map((d) => d.device).sort()).toEqual(['scsi0', 'vd0']);
    await expectPointInTime(vm, archive);
    expect(fleeceFiles(fleece)).toEqual([]);
    await expectPristine(vm, before);
  });

  it('refuses an unknown host key unless --accept-new, then remembers it', async () => {
    const fresh = join(home, 'known_hosts_fresh');
    const args = ['vms', '--host', `root@${lab.sshd.host}`, '--port', String(lab.sshd.port), '--identity', lab.sshd.clientKeyPath, '--known-hosts', fresh];
    const refused = await shear(args);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/unknown host key ssh-ed25519 SHA256:\S+/);
    expect(refused.stdout).toMatch(/--accept-new/);
    const accepted = await shear([...args, '--accept-new']);
    expect(accepted.code).toBe(0);
    expect(readFileSync(fresh, 'utf8')).toContain(lab.sshd.hostPublicKey);
    expect((await shear(args)).code).toBe(0);
  });

  it('explains bad usage with exit code 2 and touches nothing', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['backup', ...hostArgs(), '--vm', 'app', '--target', 'relative/path', '--no-fleecing'], /--target must be dir:\/absolute\/path/],
      [['backup', ...hostArgs(), '--vm', 'app', '--target', '/x'], /--target must be dir:/],
      [['backup', ...hostArgs(), '--vm', 'app', '--target', 'dir:/x'], /--fleecing-storage STORAGE, or --no-fleecing/],
      [['backup', ...hostArgs(), '--vm', 'app', '--target', 'dir:/x', '--fleecing-storage', 'nfs:/x'], /storage/i],
      [['backup', ...hostArgs(), '--vm', 'app', '--target', 'dir:/x', '--no-fleecing', '--bwlimit', 'fast'], /--bwlimit must be a positive number/],
      [['frobnicate', ...hostArgs()], /unknown command "frobnicate"/],
      [['vms', '--colour'], /Unknown option '--colour'/],
    ];
    for (const [args, message] of cases) {
      const r = await shear(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
    }
    const missing = await shear(['backup', ...hostArgs(), '--vm', 'nope', '--target', `dir:${labFolder(lab, 'x')}`, '--no-fleecing', '--json']);
    expect(missing.code).toBe(1);
    expect(missing.lines.at(-1)).toMatchObject({ type: 'result', ok: false, error: expect.stringMatching(/no VM "nope".*found: app/) });
  });

  it('Ctrl-C mid-job cancels, tears down and exits 130', async () => {
    const vm = lab.vm('app');
    const before = await snapshotState(vm);
    await seedBeforeBackup(vm);
    const fleece = labFolder(lab, 'cli-fleece-int');
    const target = labFolder(lab, 'cli-archive-int');
    const run = await shear(
      ['backup', ...hostArgs(), '--vm', 'app', '--target', `dir:${target}`, '--fleecing-storage', `dir:${fleece}`, '--bwlimit', '1', '--json'],
      { onStdoutLine: (line, child) => void (line.type === 'progress' && child.kill('SIGINT')) },
    );
    expect(run.code).toBe(130);
    expect(run.lines.at(-1)).toMatchObject({ type: 'result', ok: false });
    expect(fleeceFiles(fleece)).toEqual([]);
    await expectPristine(vm, before);
  });
});
