import { execFileSync } from 'node:child_process';
import { closeSync, cpSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../shared/model.js';
import { guestWrite } from '../lab/guest-io.js';
import { startLabHost, type LabHost } from '../lab/lab-host.js';
import { labFolder, MiB } from '../support/backup-harness.js';
import { expectPointInTime, expectPointInTimeImage, seedBeforeBackup, writeDuringCopy } from '../support/backup-scenario.js';
import { labCli, runShear } from '../support/cli-runner.js';
import { referenceDigest } from '../support/content-digest.js';

/**
 * Verify and restore on the lab host through the real CLI: checksums taken at
 * backup time, verify catching damage disk by disk, restore as new images and
 * into a stopped VM, and a restore that fails leaving nothing behind.
 */
let lab: LabHost;
let hostArgs: () => string[];
let env: Record<string, string>;
let archive: string;

const ODD = 24 * MiB + 512;

beforeAll(async () => {
  lab = await startLabHost({
    vms: [
      { name: 'vr', disks: [{ id: 'vd0', bus: 'virtio', format: 'qcow2', sizeBytes: 32 * MiB }, { id: 'scsi0', bus: 'scsi', format: 'raw', sizeBytes: ODD }] },
      { name: 'vr-stop', disks: [{ id: 'vd0', bus: 'virtio', format: 'qcow2', sizeBytes: 16 * MiB }] },
    ],
  });
  const cli = labCli(lab);
  hostArgs = cli.hostArgs;
  env = { HOME: cli.home, SHEAR_JOURNAL_DIR: labFolder(lab, 'journal') };
  // One backup with guest writes during the copy, shared by the tests below.
  const vm = lab.vm('vr');
  await seedBeforeBackup(vm);
  let wrote: Promise<void> | null = null;
  const r = await runShear(['backup', ...hostArgs(), '--vm', 'vr', '--target', `dir:${labFolder(lab, 'target')}`, '--fleecing-storage', `dir:${labFolder(lab, 'fleece')}`, '--bwlimit', '16', '--json'], {
    env,
    onStdoutLine: (line) => {
      if (line.type === 'progress' && !wrote) wrote = writeDuringCopy(vm);
    },
  });
  await wrote;
  if (r.code !== 0) throw new Error(`backup failed: ${r.stdout.slice(-2000)}`);
  archive = String(r.lines.at(-1)?.archive);
  await expectPointInTime(vm, archive);
});
afterAll(async () => {
  await lab?.stop();
});

const manifestOf = (dir: string) => JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;

/** A copy of the shared archive to damage. */
function archiveCopy(name: string): string {
  const dir = join(labFolder(lab, 'damaged'), name);
  cpSync(archive, dir, { recursive: true });
  return dir;
}

describe('checksums at backup time', () => {
  it('records a checksum of each disk\'s guest-visible content that an independent computation agrees with', () => {
    const manifest = manifestOf(archive);
    expect(manifest.disks.map((d) => d.device).sort()).toEqual(['scsi0', 'vd0']);
    for (const d of manifest.disks) {
      expect(d.checksum?.algorithm).toBe('sha256-4MiB-chunks');
      expect(d.checksum?.digest).toBe(referenceDigest(join(archive, d.file), 'qcow2'));
    }
    // Different content, different checksum (the writes during the copy are not in it either way).
    expect(new Set(manifest.disks.map((d) => d.checksum?.digest)).size).toBe(2);
  });
});

describe('shear verify', () => {
  it('passes a sound archive, disk by disk', async () => {
    const r = await runShear(['verify', ...hostArgs(), '--archive', archive, '--json'], { env });
    expect(r.code, r.stdout).toBe(0);
    expect(r.lines.filter((l) => l.type === 'disk').map((l) => [l.device, l.ok]).sort()).toEqual([['scsi0', true], ['vd0', true]]);
    expect(r.lines.at(-1)).toMatchObject({ type: 'verify', ok: true });
  });

  it('names the disk whose content changed by one byte', async () => {
    const dir = archiveCopy('flipped');
    const file = join(dir, 'vd0.qcow2');
    // A byte inside a data cluster (not qcow2 metadata, so only the checksum can notice).
    const map = JSON.parse(execFileSync('qemu-img', ['map', '--output=json', '-f', 'qcow2', file], { encoding: 'utf8' })) as Array<{ data: boolean; offset?: number }>;
    const at = map.find((e) => e.data && e.offset !== undefined)?.offset as number;
    const fd = openSync(file, 'r+');
    const byte = Buffer.alloc(1);
    readSync(fd, byte, 0, 1, at + 100);
    byte[0] = (byte[0] as number) ^ 0xff;
    writeSync(fd, byte, 0, 1, at + 100);
    closeSync(fd);
    const r = await runShear(['verify', ...hostArgs(), '--archive', dir, '--json'], { env });
    expect(r.code).toBe(1);
    const disks = Object.fromEntries(r.lines.filter((l) => l.type === 'disk').map((l) => [l.device, l]));
    expect(disks.vd0).toMatchObject({ ok: false, problems: [expect.stringMatching(/content does not match its checksum/)] });
    expect(disks.scsi0).toMatchObject({ ok: true });
  });

  it('fails the disk whose file was cut short, and still checks the others', async () => {
    const dir = archiveCopy('cut');
    const file = join(dir, 'vd0.qcow2');
    // The last 4 KiB of data: qemu-img check still passes, only reading the content notices.
    execFileSync('truncate', ['-s', String(statSync(file).size - 4096), file]);
    const r = await runShear(['verify', ...hostArgs(), '--archive', dir, '--json'], { env });
    expect(r.code).toBe(1);
    const disks = Object.fromEntries(r.lines.filter((l) => l.type === 'disk').map((l) => [l.device, l]));
    expect(disks.vd0).toMatchObject({ ok: false, problems: [expect.stringMatching(/^vd0\.qcow2: content cannot be checked: .*: cannot compute the checksum of .*vd0\.qcow2: unexpected end of .* at \d+$/)] });
    expect(disks.scsi0).toMatchObject({ ok: true });
    expect(r.lines.at(-1)).toMatchObject({ type: 'verify', ok: false });
  });

  it('says which disk file is missing', async () => {
    const dir = archiveCopy('missing');
    const scsi = manifestOf(dir).disks.find((d) => d.device === 'scsi0')?.file as string;
    execFileSync('rm', [join(dir, scsi)]);
    const r = await runShear(['verify', ...hostArgs(), '--archive', dir], { env });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(new RegExp(`scsi0\\tFAILED\\t${scsi}\\n  ${scsi} is missing`));
    expect(r.stdout).toMatch(/vd0\tok/);
  });

  it('says the manifest is truncated', async () => {
    const dir = archiveCopy('truncated');
    const text = readFileSync(join(dir, 'manifest.json'), 'utf8');
    writeFileSync(join(dir, 'manifest.json'), text.slice(0, Math.floor(text.length / 2)));
    const r = await runShear(['verify', ...hostArgs(), '--archive', dir, '--json'], { env });
    expect(r.code).toBe(1);
    expect(r.lines.at(-1)).toMatchObject({ type: 'verify', ok: false, problems: [expect.stringMatching(/manifest\.json is not valid JSON \(truncated or damaged\)/)] });
  });
});

describe('shear restore', () => {
  it('restores every disk as new images with the point-in-time content, verified against the checksums', async () => {
    const to = labFolder(lab, 'restored');
    const r = await runShear(['restore', ...hostArgs(), '--archive', archive, '--to', `dir:${to}`, '--json'], { env });
    expect(r.code, r.stdout.slice(-3000)).toBe(0);
    const restored = r.lines.filter((l) => l.type === 'restored') as Array<{ device: string; path: string; format: 'qcow2'; size: number }>;
    expect(restored.map((x) => x.device).sort()).toEqual(['scsi0', 'vd0']);
    expect(r.lines.at(-1)).toMatchObject({ type: 'result', ok: true });
    const manifest = manifestOf(archive);
    for (const x of restored) {
      expect(x.path).toMatch(new RegExp(`^${to}/vm-vr-restore-\\d{8}T\\d{6}Z-${x.device}\\.qcow2$`));
      await expectPointInTimeImage(x.path, 'qcow2', x.size, `restored ${x.device}`);
      expect(referenceDigest(x.path, 'qcow2')).toBe(manifest.disks.find((d) => d.device === x.device)?.checksum?.digest);
    }
    expect(r.lines.some((l) => l.type === 'log' && /vd0: restored content verified/.test(String(l.message)))).toBe(true);
    const record = String(r.lines.find((l) => l.type === 'result')?.archive);
    const rec = JSON.parse(readFileSync(record, 'utf8')) as { startArgv: string[]; startNotes: string[] };
    expect(rec).toMatchObject({ archive, vm: { id: 'vr' }, definition: { kind: 'qemu-command-line' } });
    // A command line that starts the VM on the restored images (the raw disk came back as qcow2: said so).
    const vd0 = restored.find((x) => x.device === 'vd0')?.path as string;
    expect(rec.startArgv.some((a) => a.includes(vd0))).toBe(true);
    expect(rec.startArgv.some((a) => a.includes(lab.vm('vr').disk('vd0').path))).toBe(false);
    expect(rec.startNotes).toEqual([expect.stringMatching(/^scsi0: restored as qcow2, the VM used raw/)]);
    // A second restore of one disk never collides with the first.
    const again = await runShear(['restore', ...hostArgs(), '--archive', archive, '--to', `dir:${to}`, '--disk', 'vd0', '--json'], { env });
    expect(again.code, again.stdout.slice(-2000)).toBe(0);
    expect(readdirSync(to).filter((f) => f.endsWith('.qcow2'))).toHaveLength(3);
  });

  it('leaves no partial image when the target storage fills up', async () => {
    const tiny = join(lab.dir, 'tiny-restore');
    mkdirSync(tiny);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'shear-test-restore', tiny]);
    try {
      const r = await runShear(['restore', ...hostArgs(), '--archive', archive, '--to', `dir:${tiny}`, '--disk', 'vd0', '--json'], { env });
      expect(r.code).toBe(1);
      expect(r.lines.at(-1)).toMatchObject({ type: 'result', ok: false, error: expect.stringMatching(/vd0: writing .* failed/) });
      expect(readdirSync(tiny)).toEqual([]);
    } finally {
      execFileSync('umount', [tiny]);
    }
  });

  it('refuses to overwrite a running VM\'s disk and changes nothing', async () => {
    const image = lab.vm('vr').disk('vd0').path;
    const before = statSync(image);
    for (const extra of [[], ['--yes']]) {
      const r = await runShear(['restore', ...hostArgs(), '--archive', archive, '--vm', 'vr', '--disk', 'vd0', ...extra, '--json'], { env });
      expect(r.code).toBe(1);
      expect(r.lines.at(-1)).toMatchObject({ ok: false, error: expect.stringMatching(/VM vr is running: its disks are never overwritten/) });
    }
    const after = statSync(image);
    expect([after.mtimeMs, after.size]).toEqual([before.mtimeMs, before.size]);
  });

  it('restores into a stopped VM\'s disk only with --yes', async () => {
    const vm = lab.vm('vr-stop');
    await seedBeforeBackup(vm);
    const b = await runShear(['backup', ...hostArgs(), '--vm', 'vr-stop', '--target', `dir:${labFolder(lab, 'target')}`, '--no-fleecing', '--json'], { env });
    expect(b.code, b.stdout.slice(-2000)).toBe(0);
    const stopArchive = String(b.lines.at(-1)?.archive);
    await guestWrite(vm, 'vd0', { offset: 0, length: 2 * MiB, pattern: 0x77 });
    const image = vm.disk('vd0').path;
    await vm.stop();
    expect(existsSync(image)).toBe(true);
    const refused = await runShear(['restore', ...hostArgs(), '--archive', stopArchive, '--vm', 'vr-stop', '--disk', 'vd0', '--json'], { env });
    expect(refused.code).toBe(1);
    expect(refused.lines.at(-1)).toMatchObject({ ok: false, error: expect.stringMatching(/overwrites its disk\(s\) vd0 \(\/.*\/vr-stop\/vd0\.qcow2\); add --yes/) });
    const r = await runShear(['restore', ...hostArgs(), '--archive', stopArchive, '--vm', 'vr-stop', '--disk', 'vd0', '--yes', '--json'], { env });
    expect(r.code, r.stdout.slice(-2000)).toBe(0);
    execFileSync('qemu-img', ['compare', '-q', '-f', 'qcow2', '-F', 'qcow2', join(stopArchive, 'vd0.qcow2'), image]);
    expect(referenceDigest(image, 'qcow2')).toBe(manifestOf(stopArchive).disks[0]?.checksum?.digest);
    // Another VM's archive is never written into this VM's disks.
    const wrong = await runShear(['restore', ...hostArgs(), '--archive', archive, '--vm', 'vr-stop', '--disk', 'vd0', '--yes', '--json'], { env });
    expect(wrong.code).toBe(1);
    expect(wrong.lines.at(-1)).toMatchObject({ ok: false, error: expect.stringMatching(/is a backup of VM vr, not of vr-stop/) });
    expect(referenceDigest(image, 'qcow2')).toBe(manifestOf(stopArchive).disks[0]?.checksum?.digest);

    // A manifest whose recorded source no longer fits the file (converted since, or edited) writes nothing.
    const lying = (name: string, source: { file: string; format: string }) => {
      const dir = join(labFolder(lab, 'lying'), name);
      cpSync(stopArchive, dir, { recursive: true });
      const m = manifestOf(dir);
      writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ ...m, disks: m.disks.map((d) => ({ ...d, source })) }));
      return dir;
    };
    const beforeLies = statSync(image);
    for (const [name, source, error] of [
      ['format', { file: image, format: 'raw' }, /vd0: .*vd0\.qcow2 is qcow2 now, the archive recorded it as raw; not overwritten/],
      ['dots', { file: `${dirname(image)}/../vr-stop/vd0.qcow2`, format: 'qcow2' }, /records an unusable source/],
    ] as const) {
      const r2 = await runShear(['restore', ...hostArgs(), '--archive', lying(name, source), '--vm', 'vr-stop', '--disk', 'vd0', '--yes', '--json'], { env });
      expect(r2.code, name).toBe(1);
      expect(r2.lines.at(-1)).toMatchObject({ ok: false, error: expect.stringMatching(error) });
    }
    expect(statSync(image).mtimeMs).toBe(beforeLies.mtimeMs);
    expect(referenceDigest(image, 'qcow2')).toBe(manifestOf(stopArchive).disks[0]?.checksum?.digest);
  });
});
