import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SshHostSession } from '../../electron/engine/hosts/host-session.js';
import { DirStorage } from '../../electron/engine/storage/dir.js';
import { ImageExistsError, parseStorageSpec, StorageError, type Storage } from '../../electron/engine/storage/storage.js';
import { imageVirtualSize } from '../lab/image.js';
import { startSshd, type LabSshd } from '../lab/sshd.js';
import { tempDir } from '../lab/tools.js';
import { connectToLab } from '../support/ssh-session.js';

const MiB = 1024 * 1024;
const ODD_SIZE = 64 * MiB + 512;
const FLEECE = /^vm-.+-fleece-\d+(\.(qcow2|raw))?$/;

let sshd: LabSshd;
let host: SshHostSession;
let root: string;
/** The storage directory: a space, quotes and shell syntax in its path. */
let dir: string;
let storage: Storage;

beforeAll(async () => {
  sshd = await startSshd();
  host = new SshHostSession((await connectToLab(sshd)).conn, () => connectToLab(sshd).then((r) => r.conn));
  root = await tempDir('shear-storage-');
  dir = join(root, `it's a "dir" $(touch pwned)`);
  mkdirSync(dir);
  storage = parseStorageSpec(`dir:${dir}/`);
});
afterAll(async () => {
  host?.close();
  await sshd?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

function localDfAvail(path: string): number {
  const out = execFileSync('df', ['-B1', '--output=avail', '--', path]).toString().trim().split('\n');
  return Number(out[out.length - 1]);
}

describe('dir storage on a real host over SSH', () => {
  it('describes itself', () => {
    expect(storage).toBeInstanceOf(DirStorage);
    expect(storage.spec).toBe(`dir:${dir}`);
    expect(storage.formats).toEqual(['qcow2', 'raw']);
    expect(storage.pathBased).toBe(true);
    expect(storage.thin).toBe(true);
    expect(storage.imagePath('vm-web-fleece-0.qcow2')).toBe(`${dir}/vm-web-fleece-0.qcow2`);
  });

  it('reports free space as df does', async () => {
    const remote = await storage.freeBytes(host);
    const local = localDfAvail(dir);
    expect(remote).toBeGreaterThan(0);
    // Other tests may write meanwhile: allow 1 % or 64 MiB.
    expect(Math.abs(remote - local)).toBeLessThan(Math.max(local / 100, 64 * MiB));
  });

  it('allocates qcow2 and sparse raw images of exactly the asked size, readable by root only', async () => {
    const qcow2 = await storage.allocate(host, 'vm-web-fleece-0.qcow2', ODD_SIZE, 'qcow2');
    expect(qcow2).toEqual({ name: 'vm-web-fleece-0.qcow2', path: `${dir}/vm-web-fleece-0.qcow2`, format: 'qcow2', sizeBytes: ODD_SIZE, blockDevice: false });
    expect(await imageVirtualSize(qcow2.path, { format: 'qcow2' })).toBe(ODD_SIZE);

    const raw = await storage.allocate(host, 'vm-db-fleece-1.raw', ODD_SIZE, 'raw');
    expect(raw).toEqual({ name: 'vm-db-fleece-1.raw', path: `${dir}/vm-db-fleece-1.raw`, format: 'raw', sizeBytes: ODD_SIZE, blockDevice: false });
    expect(await imageVirtualSize(raw.path, { format: 'raw' })).toBe(ODD_SIZE);
    const st = statSync(raw.path);
    expect(st.size).toBe(ODD_SIZE);
    expect(st.blocks * 512).toBeLessThan(MiB); // sparse

    for (const image of [qcow2, raw]) expect(statSync(image.path).mode & 0o777).toBe(0o600);
    // The path's shell syntax stayed text.
    expect(existsSync(join(root, 'pwned'))).toBe(false);
    expect(existsSync(join(dir, 'pwned'))).toBe(false);
  });

  it('refuses an existing name and leaves what is there untouched', async () => {
    const precious = join(dir, 'vm-old-fleece-7.raw');
    writeFileSync(precious, 'precious data\n', { mode: 0o644 });
    utimesSync(precious, 1_600_000_000, 1_600_000_000);
    const qcow2Path = join(dir, 'vm-web-fleece-0.qcow2');
    const qcow2Hash = sha256(qcow2Path);

    for (const [name, format] of [['vm-old-fleece-7.raw', 'raw'], ['vm-web-fleece-0.qcow2', 'qcow2']] as const) {
      const err = await storage.allocate(host, name, 2 * MiB, format).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ImageExistsError);
      expect((err as Error).message).toContain(`"${name}" exists already; refusing to overwrite it`);
    }
    expect(readFileSync(precious, 'utf8')).toBe('precious data\n');
    expect(statSync(precious).mtimeMs).toBe(1_600_000_000_000);
    expect(statSync(precious).mode & 0o777).toBe(0o644);
    expect(sha256(qcow2Path)).toBe(qcow2Hash);
    expect(await imageVirtualSize(qcow2Path, { format: 'qcow2' })).toBe(ODD_SIZE);
  });

  it('refuses a dangling symlink instead of creating its target', async () => {
    const target = join(root, 'elsewhere.raw');
    const link = join(dir, 'vm-link-fleece-0.raw');
    symlinkSync(target, link);
    await expect(storage.allocate(host, 'vm-link-fleece-0.raw', MiB, 'raw')).rejects.toThrow(ImageExistsError);
    expect(existsSync(target)).toBe(false);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readlinkSync(link)).toBe(target);
  });

  it('lets exactly one of several racing allocations of one name win', async () => {
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => storage.allocate(host, 'vm-race-fleece-0.qcow2', 4 * MiB, 'qcow2')));
    const won = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r) => r.status === 'rejected' && r.reason instanceof ImageExistsError);
    expect(won).toHaveLength(1);
    expect(refused).toHaveLength(5);
    expect(await imageVirtualSize(join(dir, 'vm-race-fleece-0.qcow2'), { format: 'qcow2' })).toBe(4 * MiB);
    await storage.free(host, 'vm-race-fleece-0.qcow2');
  });

  it('fails clearly when the directory does not exist, creating nothing', async () => {
    const missing = new DirStorage(join(root, 'no such dir'));
    const err = await missing.allocate(host, 'vm-web-fleece-0.raw', MiB, 'raw').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect((err as Error).message).toMatch(/cannot create .*no such dir\/vm-web-fleece-0\.raw \(exit code 1\): .*(nonexistent|No such file)/);
    expect(existsSync(join(root, 'no such dir'))).toBe(false);
    await expect(missing.list(host, FLEECE)).rejects.toThrow(/No such file or directory/);
  });

  it('lists exactly the matching image files, with their sizes and mtimes', async () => {
    writeFileSync(join(dir, 'vm-web-disk-0.qcow2'), 'not a fleecing image');
    writeFileSync(join(dir, 'notes.txt'), 'x');
    writeFileSync(join(dir, 'vm-tab\there-fleece-3.raw'), 'abc');
    mkdirSync(join(dir, 'vm-sub-fleece-9.raw'));
    writeFileSync(join(dir, 'vm-sub-fleece-9.raw', 'vm-deep-fleece-1.raw'), 'too deep');

    const images = await storage.list(host, FLEECE);
    const expected = ['vm-db-fleece-1.raw', 'vm-old-fleece-7.raw', 'vm-tab\there-fleece-3.raw', 'vm-web-fleece-0.qcow2'];
    expect(images.map((i) => i.name)).toEqual(expected);
    for (const image of images) {
      const st = statSync(image.path);
      expect(image.path).toBe(join(dir, image.name));
      expect(image.sizeBytes).toBe(st.size);
      expect(image.format).toBe(image.name.endsWith('.qcow2') ? 'qcow2' : 'raw');
      expect(image.blockDevice).toBe(false);
      expect(Math.abs((image.createdMs ?? 0) - st.mtimeMs)).toBeLessThanOrEqual(1);
    }
    expect(images.find((i) => i.name === 'vm-db-fleece-1.raw')?.sizeBytes).toBe(ODD_SIZE);
    expect(images.find((i) => i.name === 'vm-old-fleece-7.raw')?.createdMs).toBe(1_600_000_000_000);
    // The dangling symlink is no image file; the subdirectory and what is below it are not listed either.
    expect(images.map((i) => i.name)).not.toContain('vm-link-fleece-0.raw');
  });

  it('frees images, and freeing again or freeing what never was is fine', async () => {
    await storage.free(host, 'vm-web-fleece-0.qcow2');
    await storage.free(host, 'vm-db-fleece-1.raw');
    expect(existsSync(join(dir, 'vm-web-fleece-0.qcow2'))).toBe(false);
    expect(existsSync(join(dir, 'vm-db-fleece-1.raw'))).toBe(false);
    await storage.free(host, 'vm-web-fleece-0.qcow2');
    await storage.free(host, 'vm-never-fleece-0.raw');
    expect((await storage.list(host, FLEECE)).map((i) => i.name)).toEqual(['vm-old-fleece-7.raw', 'vm-tab\there-fleece-3.raw']);
    // Other files were not touched.
    expect(readFileSync(join(dir, 'vm-web-disk-0.qcow2'), 'utf8')).toBe('not a fleecing image');
  });
});
