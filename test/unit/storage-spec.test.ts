import { describe, expect, it } from 'vitest';
import { DirStorage } from '../../electron/engine/storage/dir.js';
import { LvmThinStorage } from '../../electron/engine/storage/lvmthin.js';
import { imageName, parseStorageSpec, StorageSpecError } from '../../electron/engine/storage/storage.js';
import { ZfsStorage } from '../../electron/engine/storage/zfs.js';

function specError(spec: string): StorageSpecError {
  try {
    parseStorageSpec(spec);
  } catch (err) {
    expect(err).toBeInstanceOf(StorageSpecError);
    return err as StorageSpecError;
  }
  throw new Error(`${spec} was accepted`);
}

describe('parseStorageSpec', () => {
  it('parses dir storages and normalizes the path', () => {
    const s = parseStorageSpec('dir:/var/lib/vz/images/');
    expect(s).toBeInstanceOf(DirStorage);
    expect(s).toMatchObject({ spec: 'dir:/var/lib/vz/images', kind: 'dir', formats: ['qcow2', 'raw'], pathBased: true, thin: true });
    expect(parseStorageSpec('dir://srv//fleece/./x/../y').spec).toBe('dir:/srv/fleece/y');
    expect(parseStorageSpec('dir:/').spec).toBe('dir:/');
    // Spaces, quotes and colons are fine in a path: it only ever travels as one quoted argument.
    expect(parseStorageSpec(`dir:/tmp/it's a "dir": yes`).spec).toBe(`dir:/tmp/it's a "dir": yes`);
  });

  it('parses lvmthin storages', () => {
    const s = parseStorageSpec('lvmthin:pve/data');
    expect(s).toBeInstanceOf(LvmThinStorage);
    expect(s).toMatchObject({ spec: 'lvmthin:pve/data', kind: 'lvmthin', formats: ['raw'], pathBased: false, thin: true, vg: 'pve', pool: 'data' });
    expect(parseStorageSpec('lvmthin:vg-0.x+y/thin_pool').spec).toBe('lvmthin:vg-0.x+y/thin_pool');
  });

  it('parses zfs storages, a bare pool included', () => {
    const s = parseStorageSpec('zfs:rpool/data');
    expect(s).toBeInstanceOf(ZfsStorage);
    expect(s).toMatchObject({ spec: 'zfs:rpool/data', kind: 'zfs', formats: ['raw'], pathBased: false, thin: true, dataset: 'rpool/data' });
    expect(parseStorageSpec('zfs:tank').spec).toBe('zfs:tank');
    expect(parseStorageSpec('zfs:tank/a b/c:d.e_f-g').spec).toBe('zfs:tank/a b/c:d.e_f-g');
  });

  it('explains what is wrong with a bad spec', () => {
    expect(specError('').message).toMatch(/expected <kind>:<location>/);
    expect(specError('/var/lib/vz').message).toMatch(/expected <kind>:<location>, one of dir:\/path, lvmthin:vg\/pool, zfs:pool\/dataset/);
    expect(specError('nfs:/mnt/x').message).toMatch(/unknown kind "nfs" \(known: dir, lvmthin, zfs, pve\)/);
    expect(specError('pve:local').message).toMatch(/expected pve:<type>:<storage id>/);
    expect(specError('pve:iscsi:lun0').message).toMatch(/cannot hold VM images/);
    expect(parseStorageSpec('pve:lvmthin:local-lvm')).toMatchObject({ spec: 'pve:lvmthin:local-lvm', formats: ['raw'], pathBased: false });
    expect(parseStorageSpec('pve:dir:local')).toMatchObject({ formats: ['qcow2', 'raw'], pathBased: true });
    expect(specError('DIR:/x').message).toMatch(/unknown kind "DIR"/);

    expect(specError('dir:').message).toMatch(/path is empty/);
    expect(specError('dir:var/lib/vz').message).toMatch(/"var\/lib\/vz" is not an absolute path/);
    expect(specError('dir:~/fleece').message).toMatch(/not an absolute path/);
    expect(specError('dir:/a\nb').message).toMatch(/NUL or line break/);

    expect(specError('lvmthin:').message).toMatch(/expected lvmthin:<vg>\/<thinpool>, both non-empty/);
    expect(specError('lvmthin:pve').message).toMatch(/both non-empty/);
    expect(specError('lvmthin:pve/').message).toMatch(/both non-empty/);
    expect(specError('lvmthin:/data').message).toMatch(/both non-empty/);
    expect(specError('lvmthin:pve/data/x').message).toMatch(/both non-empty/);
    expect(specError('lvmthin:-vg/data').message).toMatch(/volume group name "-vg" is not a valid LVM name/);
    expect(specError('lvmthin:pve/da ta').message).toMatch(/thin pool name "da ta" is not a valid LVM name/);
    expect(specError('lvmthin:pve/..').message).toMatch(/cannot be "\.\."/);
    expect(specError('lvmthin:pve/data_tmeta').message).toMatch(/contains "_tmeta", which LVM reserves/);
    expect(specError('lvmthin:pve/snapshot1').message).toMatch(/starts with "snapshot"/);
    expect(specError(`lvmthin:pve/${'a'.repeat(128)}`).message).toMatch(/longer than 127/);

    expect(specError('zfs:').message).toMatch(/dataset is empty/);
    expect(specError('zfs:/rpool/data').message).toMatch(/without leading or trailing "\/"/);
    expect(specError('zfs:rpool/data/').message).toMatch(/without leading or trailing "\/"/);
    expect(specError('zfs:rpool//data').message).toMatch(/empty component/);
    expect(specError('zfs:rpool/data@snap').message).toMatch(/no @, #, %/);
    expect(specError('zfs:rpool/data#bm').message).toMatch(/no @, #, %/);
    expect(specError('zfs:rpool/../x').message).toMatch(/"\.\." component/);
    expect(specError('zfs:1pool/data').message).toMatch(/must begin with a letter/);
    expect(specError('zfs:mirror/data').message).toMatch(/reserved/);
    expect(specError('zfs:c0t0d0/data').message).toMatch(/looks like a disk name/);
    expect(specError(`zfs:tank/${'x'.repeat(260)}`).message).toMatch(/longer than 255/);

    // Every message names the spec the user gave.
    expect(specError('lvmthin:-vg/data').message).toMatch(/^storage "lvmthin:-vg\/data": /);
    expect(specError('zfs:1pool').message).toMatch(/^storage "zfs:1pool": /);
    expect(specError('dir:rel').message).toMatch(/^storage "dir:rel": /);
  });
});

describe('image names and paths', () => {
  const dir = parseStorageSpec(`dir:/tmp/it's here`);
  const lvm = parseStorageSpec('lvmthin:pve/data');
  const zfs = parseStorageSpec('zfs:rpool/data');

  it('builds paths', () => {
    expect(dir.imagePath('vm-web-fleece-0.qcow2')).toBe(`/tmp/it's here/vm-web-fleece-0.qcow2`);
    expect(parseStorageSpec('dir:/').imagePath('x.raw')).toBe('/x.raw');
    expect(lvm.imagePath('vm-web-fleece-0')).toBe('/dev/pve/vm-web-fleece-0');
    expect(zfs.imagePath('vm-web-fleece-0')).toBe('/dev/zvol/rpool/data/vm-web-fleece-0');
  });

  it('names images the way each storage wants them', () => {
    expect(imageName(dir, 'vm-web-fleece-0', 'qcow2')).toBe('vm-web-fleece-0.qcow2');
    expect(imageName(dir, 'vm-web-fleece-0', 'raw')).toBe('vm-web-fleece-0.raw');
    expect(imageName(lvm, 'vm-web-fleece-0', 'raw')).toBe('vm-web-fleece-0');
    expect(imageName(zfs, 'vm-web-fleece-0', 'raw')).toBe('vm-web-fleece-0');
  });

  it('refuses names that would leave the storage or confuse its tools', () => {
    for (const bad of ['', '.', '..', '../etc/passwd', 'a/b', 'a\nb', 'a\0b', 'x'.repeat(256)]) {
      expect(() => dir.imagePath(bad), JSON.stringify(bad)).toThrow(StorageSpecError);
    }
    for (const bad of ['', '..', '-x', 'a/b', 'a b', 'data_tdata', 'snapshot-1', 'x$(id)']) {
      expect(() => lvm.imagePath(bad), JSON.stringify(bad)).toThrow(StorageSpecError);
    }
    // The thin pool itself is never an image: freeing it would destroy every volume in it.
    expect(() => lvm.imagePath('data')).toThrow(/is the thin pool itself/);
    for (const bad of ['', '..', 'a/b', 'a b', 'x@snap', 'x#b', 'x%y']) {
      expect(() => zfs.imagePath(bad), JSON.stringify(bad)).toThrow(StorageSpecError);
    }
  });
});
