import { describe, expect, it } from 'vitest';
import { RemoteCommandError } from '../../electron/engine/ssh/exec.js';
import {
  DIR_ALLOCATE,
  dirAllocateArgv,
  dirFreeArgv,
  dirFreeBytesArgv,
  dirListArgv,
  DirStorage,
  formatOfFileName,
  parseDfAvail,
  parseFindListing,
  parseQemuImgInfo,
} from '../../electron/engine/storage/dir.js';
import { ImageExistsError, StorageError, StorageSpecError } from '../../electron/engine/storage/errors.js';
import { scriptedHost } from '../support/scripted-host.js';


const DIR = `/srv/it's a dir`;

describe('dir storage: commands', () => {
  it('allocates through one constant script, the user data as positional arguments', () => {
    expect(dirAllocateArgv(`${DIR}/vm-web-fleece-0.qcow2`, 'qcow2', 67_109_376)).toEqual([
      'sh',
      '-c',
      DIR_ALLOCATE,
      'shear-allocate',
      `${DIR}/vm-web-fleece-0.qcow2`,
      'qcow2',
      '67109376',
    ]);
    // The script never mentions a path itself, and guards before it creates.
    expect(DIR_ALLOCATE).not.toMatch(/srv|fleece/);
    expect(DIR_ALLOCATE).toMatch(/umask 077/);
    expect(DIR_ALLOCATE).toMatch(/set -C/);
    expect(DIR_ALLOCATE.indexOf('exit 17')).toBeLessThan(DIR_ALLOCATE.indexOf('qemu-img create'));
    expect(DIR_ALLOCATE).toMatch(/qemu-img create -q -f "\$2" \$\{o:\+-o "\$o"\} "\$f" "\$3"/);
    // qcow2 fleecing images get their metadata at creation (no allocation inside a guest write later).
    expect(DIR_ALLOCATE).toMatch(/\[ "\$2" = qcow2 \] && o=preallocation=metadata/);
  });

  it('frees, measures and lists with plain argument arrays', () => {
    expect(dirFreeArgv(`${DIR}/x.raw`)).toEqual(['rm', '-f', '--', `${DIR}/x.raw`]);
    expect(dirFreeBytesArgv(DIR)).toEqual(['env', 'LC_ALL=C', 'df', '-B1', '--output=avail', '--', DIR]);
    expect(dirListArgv(DIR)).toEqual(['find', '-H', DIR, '-mindepth', '1', '-maxdepth', '1', '-type', 'f', '-printf', '%s\\t%T@\\t%f\\0']);
  });
});

describe('dir storage: parsing tool output', () => {
  it('reads df', () => {
    // Recorded: `df -B1 --output=avail -- /tmp`, GNU coreutils 9.1 (Debian bookworm).
    expect(parseDfAvail('      Avail\n83639791616\n')).toBe(83_639_791_616);
    expect(parseDfAvail('Avail\n0\n')).toBe(0);
    expect(() => parseDfAvail('')).toThrow(StorageError);
    expect(() => parseDfAvail('Filesystem 1B-blocks Used Available\n/dev/vda 1 2 3\n')).toThrow(/df: unexpected output/);
    expect(() => parseDfAvail('Avail\n-\n')).toThrow(/expected a number/);
  });

  it('reads find records, names with tabs included', () => {
    // Recorded: the dirListArgv command on GNU findutils 4.9 (Debian bookworm) in a dir holding
    // a 64 MiB + 512 raw and qcow2 image, notes.txt, an empty file named "vm-a<TAB>b-fleece-3.raw"
    // and a directory vm-x-fleece-2.raw (not listed: -type f).
    const recorded =
      '67109376\t1795659972.3939884630\tvm-db-fleece-1.raw\x00196616\t1795659972.3797896360\tvm-web-fleece-0.qcow2\x00' +
      '1\t1795659972.3939884630\tnotes.txt\x000\t1795659972.3987589500\tvm-a\tb-fleece-3.raw\x00';
    expect(parseFindListing(recorded)).toEqual([
      { name: 'vm-db-fleece-1.raw', sizeBytes: 67_109_376, mtimeMs: 1_795_659_972_394 },
      { name: 'vm-web-fleece-0.qcow2', sizeBytes: 196_616, mtimeMs: 1_795_659_972_380 },
      { name: 'notes.txt', sizeBytes: 1, mtimeMs: 1_795_659_972_394 },
      { name: 'vm-a\tb-fleece-3.raw', sizeBytes: 0, mtimeMs: 1_795_659_972_399 },
    ]);
    expect(parseFindListing('')).toEqual([]);
    // A newline inside a name is just a character of the name.
    expect(parseFindListing('5\t100\ta\nb.raw\0')).toEqual([{ name: 'a\nb.raw', sizeBytes: 5, mtimeMs: 100_000 }]);
    expect(() => parseFindListing('5\t100\tcut-off.raw')).toThrow(/does not end with a NUL/);
    expect(() => parseFindListing('x\t100\ta.raw\0')).toThrow(/unexpected record/);
  });

  it('reads qemu-img info', () => {
    // Recorded: `qemu-img info -f qcow2 --output=json` of a fresh 64 MiB + 512 image, QEMU 7.2.22.
    const recorded = `{
    "virtual-size": 67109376,
    "filename": "vm-web-fleece-0.qcow2",
    "cluster-size": 65536,
    "format": "qcow2",
    "actual-size": 200704,
    "format-specific": {
        "type": "qcow2",
        "data": {
            "compat": "1.1",
            "compression-type": "zlib",
            "lazy-refcounts": false,
            "refcount-bits": 16,
            "corrupt": false,
            "extended-l2": false
        }
    },
    "dirty-flag": false
}
`;
    expect(parseQemuImgInfo(recorded)).toEqual({ virtualSize: 67_109_376, format: 'qcow2' });
    expect(() => parseQemuImgInfo('qemu-img: Could not open')).toThrow(/not JSON/);
    expect(() => parseQemuImgInfo('{"format":"raw"}')).toThrow(/no virtual-size/);
  });

  it('knows formats by extension only', () => {
    expect(formatOfFileName('a.qcow2')).toBe('qcow2');
    expect(formatOfFileName('a.raw')).toBe('raw');
    expect(formatOfFileName('.raw')).toBeNull();
    expect(formatOfFileName('a.img')).toBeNull();
    expect(formatOfFileName('a.qcow2.bak')).toBeNull();
  });
});

describe('dir storage: behaviour on scripted tool answers', () => {
  const storage = new DirStorage(DIR);
  const info = (size: number, format = 'qcow2') => JSON.stringify({ 'virtual-size': size, format });

  it('returns the image with the size qemu-img reports', async () => {
    const host = scriptedHost(() => ({ stdout: info(67_109_376) }));
    const image = await storage.allocate(host, 'vm-web-fleece-0.qcow2', 67_109_376, 'qcow2');
    expect(image).toEqual({ name: 'vm-web-fleece-0.qcow2', path: `${DIR}/vm-web-fleece-0.qcow2`, format: 'qcow2', sizeBytes: 67_109_376, blockDevice: false });
    expect(host.calls).toEqual([dirAllocateArgv(`${DIR}/vm-web-fleece-0.qcow2`, 'qcow2', 67_109_376)]);
  });

  it('turns the guard exit into ImageExistsError and removes nothing', async () => {
    const host = scriptedHost(() => ({ code: 17 }));
    const err = await storage.allocate(host, 'vm-web-fleece-0.raw', 1024, 'raw').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImageExistsError);
    expect((err as Error).message).toBe(`root@host: dir:${DIR}: "vm-web-fleece-0.raw" exists already; refusing to overwrite it`);
    expect(host.calls).toHaveLength(1);
  });

  it('reports a failed qemu-img with its message', async () => {
    const host = scriptedHost(() => ({ code: 1, stderr: 'qemu-img: /srv/x: Could not create: No space left on device\n' }));
    const err = await storage.allocate(host, 'vm-web-fleece-0.raw', 1024, 'raw').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect((err as Error).message).toMatch(/^root@host: dir:\/srv\/it's a dir: cannot create .*vm-web-fleece-0\.raw \(exit code 1\): qemu-img: .*No space left/);
    expect((err as StorageError).cause).toBeInstanceOf(RemoteCommandError);
  });

  it('removes an image that came out smaller than asked, or in another format', async () => {
    for (const reply of [info(1024, 'raw'), info(4096, 'qcow2'), 'garbage']) {
      const host = scriptedHost((argv) => (argv[0] === 'sh' ? { stdout: reply } : {}));
      await expect(storage.allocate(host, 'vm-web-fleece-0.qcow2', 4096 + 512, 'qcow2')).rejects.toThrow(/the image was removed again/);
      expect(host.calls[1]).toEqual(dirFreeArgv(`${DIR}/vm-web-fleece-0.qcow2`));
    }
  });

  it('checks arguments before touching the host', async () => {
    const host = scriptedHost(() => ({}));
    await expect(storage.allocate(host, 'vm-web-fleece-0.raw', 1024, 'qcow2')).rejects.toThrow(/must end in "\.qcow2"/);
    await expect(storage.allocate(host, 'vm-web-fleece-0', 1024, 'raw')).rejects.toThrow(/must end in "\.raw"/);
    await expect(storage.allocate(host, '../x.raw', 1024, 'raw')).rejects.toThrow(StorageSpecError);
    await expect(storage.allocate(host, 'x.raw', 0, 'raw')).rejects.toThrow(/positive whole number/);
    await expect(storage.allocate(host, 'x.raw', 1.5, 'raw')).rejects.toThrow(/positive whole number/);
    await expect(storage.allocate(host, 'x.vmdk', 1024, 'vmdk' as 'raw')).rejects.toThrow(/format "vmdk" is not supported here \(supported: qcow2, raw\)/);
    await expect(storage.free(host, '/etc/passwd')).rejects.toThrow(StorageSpecError);
    expect(host.calls).toEqual([]);
  });

  it('lists only matching names it could free, with format from the extension, sorted', async () => {
    const listing =
      '67109376\t1795659972.3939884630\tvm-db-fleece-1.raw\x00196616\t1795659972.3797896360\tvm-web-fleece-0.qcow2\x00' +
      '1\t1795659972.3939884630\tnotes.txt\x000\t1795659972.5\tvm-a\tb-fleece-3.raw\x00' +
      '7\t1\tvm-c-fleece-4.img\x008\t1\tvm-d\nx-fleece-5.raw\x009\t1\tvm-web-disk-0.qcow2\x00';
    const host = scriptedHost(() => ({ stdout: listing }));
    const images = await storage.list(host, /^vm-.+-fleece-\d+(\.(qcow2|raw))?$/s);
    expect(images).toEqual([
      { name: 'vm-a\tb-fleece-3.raw', path: `${DIR}/vm-a\tb-fleece-3.raw`, format: 'raw', sizeBytes: 0, blockDevice: false, createdMs: 1_795_659_972_500 },
      { name: 'vm-db-fleece-1.raw', path: `${DIR}/vm-db-fleece-1.raw`, format: 'raw', sizeBytes: 67_109_376, blockDevice: false, createdMs: 1_795_659_972_394 },
      { name: 'vm-web-fleece-0.qcow2', path: `${DIR}/vm-web-fleece-0.qcow2`, format: 'qcow2', sizeBytes: 196_616, blockDevice: false, createdMs: 1_795_659_972_380 },
    ]);
    // A global regexp keeps no state between names.
    expect(await storage.list(host, /fleece/g)).toHaveLength(3);
  });

  it('reports free space and fails loudly when the directory is missing', async () => {
    expect(await new DirStorage('/srv').freeBytes(scriptedHost(() => ({ stdout: '     Avail\n1234\n' })))).toBe(1234);
    const missing = scriptedHost(() => ({ code: 1, stderr: "find: '/nope': No such file or directory\n" }));
    await expect(new DirStorage('/nope').list(missing, /x/)).rejects.toThrow(/No such file or directory/);
  });
});
