import { describe, expect, it } from 'vitest';
import { memoryLogger } from '../../electron/engine/log.js';
import { RemoteCommandError } from '../../electron/engine/ssh/exec.js';
import { WAIT_FOR_BLOCK_DEVICE } from '../../electron/engine/storage/common.js';
import { ImageExistsError, StorageError, StorageSpecError } from '../../electron/engine/storage/errors.js';
import {
  parseZfsNumber,
  parseZfsVolumeListing,
  zfsAvailableArgv,
  zfsCreateArgv,
  zfsDestroyArgv,
  zfsListArgv,
  ZfsStorage,
  zfsVolsizeArgv,
  zvolSizeFor,
} from '../../electron/engine/storage/zfs.js';
import { scriptedHost } from '../support/scripted-host.js';


/** The zfs subcommand an argv runs (`env LC_ALL=C zfs <sub>`, also behind the wait-for-device script). */
const sub = (argv: readonly string[]): string => (argv[0] === 'sh' ? (argv[9] ?? '') : (argv[3] ?? ''));

/*
 * ZFS output shapes. NOT recorded on this machine (its kernel has no ZFS): written as OpenZFS
 * 2.x prints them with -H (no header, fields separated by one TAB) and -p (exact numbers:
 * bytes, creation as epoch seconds). The dataset itself is a filesystem, so `-t volume -d 1`
 * lists only the zvols directly below it.
 */
const ZFS_LIST = [
  'rpool/data/vm-100-disk-0\t34359738368\t1700000000',
  'rpool/data/vm-web-fleece-0\t68157440\t1714560000',
  'rpool/data/vm-db-fleece-1\t1048576\t1714560500',
  'rpool/data/vm-sp ace-fleece-2\t1048576\t1714560600',
  '',
].join('\n');

describe('zfs: commands', () => {
  it('creates a sparse zvol padded to whole MiB (as Proxmox does)', () => {
    expect(zvolSizeFor(67_109_376)).toBe(68_157_440);
    expect(zvolSizeFor(64 * 1024 * 1024)).toBe(67_108_864);
    expect(zvolSizeFor(1)).toBe(1_048_576);
    expect(zfsCreateArgv('rpool/data', 'vm-web-fleece-0', 67_109_376)).toEqual([
      'env', 'LC_ALL=C', 'zfs', 'create', '-s', '-V', '68157440', 'rpool/data/vm-web-fleece-0',
    ]);
  });

  it('reads volsize once the /dev/zvol link exists', () => {
    expect(zfsVolsizeArgv('rpool/data', 'vm-web-fleece-0')).toEqual([
      'sh', '-c', WAIT_FOR_BLOCK_DEVICE, 'shear-wait-device', '/dev/zvol/rpool/data/vm-web-fleece-0', '100',
      'env', 'LC_ALL=C', 'zfs', 'get', '-Hp', '-o', 'value', 'volsize', 'rpool/data/vm-web-fleece-0',
    ]);
  });

  it('destroys, measures and lists', () => {
    expect(zfsDestroyArgv('rpool/data', 'vm-web-fleece-0')).toEqual(['env', 'LC_ALL=C', 'zfs', 'destroy', '-r', 'rpool/data/vm-web-fleece-0']);
    expect(zfsAvailableArgv('rpool/data')).toEqual(['env', 'LC_ALL=C', 'zfs', 'get', '-Hp', '-o', 'value', 'available', 'rpool/data']);
    expect(zfsListArgv('rpool/data')).toEqual([
      'env', 'LC_ALL=C', 'zfs', 'list', '-H', '-p', '-t', 'volume', '-o', 'name,volsize,creation', '-d', '1', 'rpool/data',
    ]);
  });
});

describe('zfs: parsing', () => {
  it('reads the zvol listing, keeping direct children only', () => {
    expect(parseZfsVolumeListing(ZFS_LIST, 'rpool/data')).toEqual([
      { name: 'vm-100-disk-0', sizeBytes: 34_359_738_368, createdMs: 1_700_000_000_000 },
      { name: 'vm-web-fleece-0', sizeBytes: 68_157_440, createdMs: 1_714_560_000_000 },
      { name: 'vm-db-fleece-1', sizeBytes: 1_048_576, createdMs: 1_714_560_500_000 },
      { name: 'vm-sp ace-fleece-2', sizeBytes: 1_048_576, createdMs: 1_714_560_600_000 },
    ]);
    // A zvol dataset lists itself with -d 1; rpool/database is not below rpool/data.
    expect(parseZfsVolumeListing('rpool/data\t1048576\t1\nrpool/database/x\t1048576\t1\nrpool/data/a/b\t1\t1\n', 'rpool/data')).toEqual([]);
    expect(parseZfsVolumeListing('', 'rpool/data')).toEqual([]);
    expect(() => parseZfsVolumeListing('rpool/data/x 1048576 1\n', 'rpool/data')).toThrow(/zfs list: unexpected line/);
    expect(() => parseZfsVolumeListing('rpool/data/x\t1M\t1\n', 'rpool/data')).toThrow(/expected a number of bytes/);
  });

  it('reads single -Hp values', () => {
    expect(parseZfsNumber('68157440\n', 'volsize')).toBe(68_157_440);
    expect(parseZfsNumber('1099511627776\n', 'available')).toBe(1_099_511_627_776);
    expect(() => parseZfsNumber('-\n', 'volsize')).toThrow(/zfs get volsize: expected a number of bytes, got "-\\n"/);
  });
});

describe('zfs: behaviour on scripted zfs answers', () => {
  const storage = new ZfsStorage('rpool/data', { busyRetryDelayMs: 1 });

  it('allocates and reports the padded volsize', async () => {
    const host = scriptedHost((argv) => (sub(argv) === 'get' ? { stdout: '68157440\n' } : {}));
    expect(await storage.allocate(host, 'vm-web-fleece-0', 67_109_376, 'raw')).toEqual({
      name: 'vm-web-fleece-0',
      path: '/dev/zvol/rpool/data/vm-web-fleece-0',
      format: 'raw',
      sizeBytes: 68_157_440,
      blockDevice: true,
    });
    expect(host.calls).toEqual([zfsCreateArgv('rpool/data', 'vm-web-fleece-0', 67_109_376), zfsVolsizeArgv('rpool/data', 'vm-web-fleece-0')]);
  });

  it('refuses a taken name, also when a filesystem holds it', async () => {
    const zvol = scriptedHost((argv) => (sub(argv) === 'create' ? { code: 1, stderr: "cannot create 'rpool/data/vm-web-fleece-0': dataset already exists\n" } : { stdout: ZFS_LIST }));
    await expect(storage.allocate(zvol, 'vm-web-fleece-0', 4096, 'raw')).rejects.toThrow(ImageExistsError);
    const listedOnly = scriptedHost((argv) => (sub(argv) === 'create' ? { code: 1, stderr: 'localized message\n' } : { stdout: ZFS_LIST }));
    await expect(storage.allocate(listedOnly, 'vm-db-fleece-1', 4096, 'raw')).rejects.toThrow(ImageExistsError);
    const other = scriptedHost((argv) => (sub(argv) === 'create' ? { code: 1, stderr: "cannot create 'rpool/data/vm-new-fleece-0': out of space\n" } : { stdout: ZFS_LIST }));
    const err = await storage.allocate(other, 'vm-new-fleece-0', 4096, 'raw').catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(ImageExistsError);
    expect((err as Error).message).toBe("root@host: zfs:rpool/data: cannot create vm-new-fleece-0 (exit code 1): cannot create 'rpool/data/vm-new-fleece-0': out of space");
  });

  it('destroys a new zvol again when its /dev/zvol link never appears', async () => {
    const host = scriptedHost((argv) => (argv[0] === 'sh' ? { code: 18, stderr: 'no block device /dev/zvol/rpool/data/vm-new-fleece-0 appeared\n' } : {}));
    await expect(storage.allocate(host, 'vm-new-fleece-0', 4096, 'raw')).rejects.toThrow(/created but is not usable .*no block device.*destroyed again/);
    expect(host.calls.at(-1)).toEqual(zfsDestroyArgv('rpool/data', 'vm-new-fleece-0'));
  });

  it('checks arguments before touching the host', async () => {
    const host = scriptedHost(() => ({}));
    await expect(storage.allocate(host, 'vm-web-fleece-0', 4096, 'qcow2')).rejects.toThrow(/not supported here \(supported: raw\)/);
    await expect(storage.allocate(host, 'vm-x@now', 4096, 'raw')).rejects.toThrow(StorageSpecError);
    await expect(storage.allocate(host, 'vm-x', -1, 'raw')).rejects.toThrow(/positive whole number/);
    await expect(storage.free(host, 'a/b')).rejects.toThrow(StorageSpecError);
    expect(host.calls).toEqual([]);
  });

  it('frees idempotently and retries while the zvol is busy', async () => {
    const gone = scriptedHost(() => ({ stdout: ZFS_LIST }));
    await storage.free(gone, 'vm-gone-fleece-0');
    expect(gone.calls.map(sub)).toEqual(['list']);

    let destroys = 0;
    const { log, lines } = memoryLogger();
    const busy = scriptedHost((argv) => {
      if (sub(argv) !== 'destroy') return { stdout: destroys < 3 ? ZFS_LIST : '' };
      destroys++;
      return destroys < 3 ? { code: 1, stderr: "cannot destroy 'rpool/data/vm-web-fleece-0': dataset is busy\n" } : {};
    }, log);
    await storage.free(busy, 'vm-web-fleece-0');
    expect(busy.calls.map(sub)).toEqual(['list', 'destroy', 'list', 'destroy', 'list', 'destroy']);
    expect(lines.map((l) => l.message)).toEqual([
      'root@host: rpool/data/vm-web-fleece-0 is busy; destroying again (1/6)',
      'root@host: rpool/data/vm-web-fleece-0 is busy; destroying again (2/6)',
    ]);

    const stuck = scriptedHost((argv) => (sub(argv) === 'destroy' ? { code: 1, stderr: "cannot destroy 'rpool/data/vm-web-fleece-0': dataset is busy\n" } : { stdout: ZFS_LIST }));
    await expect(storage.free(stuck, 'vm-web-fleece-0')).rejects.toThrow(StorageError);
    expect(stuck.calls.filter((c) => sub(c) === 'destroy')).toHaveLength(6);

    const raced = scriptedHost((argv) => (sub(argv) === 'destroy' ? { code: 1, stderr: "cannot open 'rpool/data/vm-web-fleece-0': dataset does not exist\n" } : { stdout: raced.calls.length > 1 ? '' : ZFS_LIST }));
    await expect(storage.free(raced, 'vm-web-fleece-0')).resolves.toBeUndefined();
  });

  it('lists matching zvols it could free, sorted, with sizes and ages', async () => {
    const host = scriptedHost(() => ({ stdout: ZFS_LIST }));
    expect(await storage.list(host, /^vm-.+-fleece-\d+$/)).toEqual([
      { name: 'vm-db-fleece-1', path: '/dev/zvol/rpool/data/vm-db-fleece-1', format: 'raw', sizeBytes: 1_048_576, blockDevice: true, createdMs: 1_714_560_500_000 },
      { name: 'vm-web-fleece-0', path: '/dev/zvol/rpool/data/vm-web-fleece-0', format: 'raw', sizeBytes: 68_157_440, blockDevice: true, createdMs: 1_714_560_000_000 },
    ]);
    expect(host.calls).toEqual([zfsListArgv('rpool/data')]);
  });

  it('names the storage, the step and the zfs message when zfs fails', async () => {
    const host = scriptedHost(() => ({ code: 1, stderr: "cannot open 'rpool/nope': dataset does not exist\n" }));
    const err = await new ZfsStorage('rpool/nope').freeBytes(host).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect((err as Error).message).toBe("root@host: zfs:rpool/nope: cannot read free space (exit code 1): cannot open 'rpool/nope': dataset does not exist");
    expect((err as StorageError).cause).toBeInstanceOf(RemoteCommandError);
    expect(((err as StorageError).cause as RemoteCommandError).argv).toEqual(zfsAvailableArgv('rpool/nope'));
  });

  it('reports available bytes of the dataset', async () => {
    const host = scriptedHost(() => ({ stdout: '1099511627776\n' }));
    expect(await storage.freeBytes(host)).toBe(1_099_511_627_776);
    expect(host.calls).toEqual([zfsAvailableArgv('rpool/data')]);
  });
});
