import { describe, expect, it } from 'vitest';
import { RemoteCommandError } from '../../electron/engine/ssh/exec.js';
import { WAIT_FOR_BLOCK_DEVICE } from '../../electron/engine/storage/common.js';
import { ImageExistsError, StorageError, StorageSpecError } from '../../electron/engine/storage/errors.js';
import {
  lvcreateArgv,
  LvmThinStorage,
  lvmVirtualSizeArg,
  lvremoveArgv,
  lvSizeArgv,
  lvsListArgv,
  parseLvSize,
  parseLvsListing,
  parseLvTime,
  parseThinPoolStatus,
  thinPoolFreeBytes,
  thinPoolStatusArgv,
} from '../../electron/engine/storage/lvmthin.js';
import { scriptedHost } from '../support/scripted-host.js';


/** The LVM program an argv runs: after `env LC_ALL=C`, also behind the wait-for-device script. */
const program = (argv: readonly string[]): string => (argv[0] === 'sh' ? (argv[8] ?? '') : (argv[2] ?? ''));

/*
 * Recorded with LVM 2.03.16 (Debian bookworm) on this project's CI-like machine. Its kernel has
 * no device-mapper, so the VG (on a loop device) got its thin pools and thin LVs through
 * `vgcfgrestore --force` of hand-written metadata: lvs reads metadata only, so the output shape
 * is real, but nothing is active ("XX" in lv_attr, empty data_percent). Pools: "pool" (128 MiB)
 * and "other"; "linear" is a plain LV.
 */
const RECORDED_LVS_LIST = [
  '  linear|16777216|1714550300||-wi-XX----',
  '  other|33554432|1714550100||twi---tz--',
  '  pool|134217728|1714550000||twi---tz--',
  '  vm-100-disk-0|1073741824|1714550200|pool|Vwi-XXtz--',
  '  vm-db-fleece-1|4194304|1714560500|pool|Vwi-XXtz--',
  '  vm-web-fleece-0|71303168|1714560000|pool|Vwi-XXtz--',
  '  vm-x-fleece-0|8388608|1714560600|other|Vwi-XXtz--',
  '',
].join('\n');
/** Same VG, lvs without the time_format override (the default lv_time format). */
const RECORDED_LVS_LIST_DEFAULT_TIME = [
  '  linear|16777216|2024-05-01 07:58:20 +0000||-wi-XX----',
  '  vm-web-fleece-0|71303168|2024-05-01 10:40:00 +0000|pool|Vwi-XXtz--',
  '',
].join('\n');
/** thinPoolStatusArgv of the inactive recorded pool. */
const RECORDED_POOL_STATUS_INACTIVE = '  134217728||twi---tz--\n';
/** `lvs --noheadings --units b --nosuffix -o lv_size shearprobe/vm-web-fleece-0`. */
const RECORDED_LV_SIZE = '  71303168\n';
/** Shape of an active pool 12.5 % full, as LVM prints it (data_percent has two decimals). Not recorded: no dm here. */
const ACTIVE_POOL_STATUS = '  134217728|12.50|twi-aotz--\n';

describe('lvmthin: commands', () => {
  it('creates with a KiB size (LVM refuses byte counts that are not multiples of 512)', () => {
    expect(lvmVirtualSizeArg(67_109_376)).toBe('65537k');
    expect(lvmVirtualSizeArg(67_108_864)).toBe('65536k');
    expect(lvmVirtualSizeArg(67_108_865)).toBe('65537k');
    expect(lvmVirtualSizeArg(1)).toBe('1k');
    expect(lvcreateArgv('pve', 'data', 'vm-web-fleece-0', 67_109_376)).toEqual([
      'env', 'LC_ALL=C', 'lvcreate', '-aly', '-y', '-V', '65537k', '--name', 'vm-web-fleece-0', '--thinpool', 'pve/data',
    ]);
  });

  it('reads the real size once the device node exists', () => {
    expect(lvSizeArgv('pve', 'vm-web-fleece-0')).toEqual([
      'sh', '-c', WAIT_FOR_BLOCK_DEVICE, 'shear-wait-device', '/dev/pve/vm-web-fleece-0', '100',
      'env', 'LC_ALL=C', 'lvs', '--noheadings', '--units', 'b', '--nosuffix', '-o', 'lv_size', 'pve/vm-web-fleece-0',
    ]);
  });

  it('removes, measures and lists', () => {
    expect(lvremoveArgv('pve', 'vm-web-fleece-0')).toEqual(['env', 'LC_ALL=C', 'lvremove', '-f', 'pve/vm-web-fleece-0']);
    expect(thinPoolStatusArgv('pve', 'data')).toEqual([
      'env', 'LC_ALL=C', 'lvs', '--noheadings', '--units', 'b', '--nosuffix', '--separator', '|', '-o', 'lv_size,data_percent,lv_attr', 'pve/data',
    ]);
    expect(lvsListArgv('pve')).toEqual([
      'env', 'LC_ALL=C', 'lvs', '--noheadings', '--units', 'b', '--nosuffix', '--separator', '|', '--config', 'report/time_format="%s"',
      '-o', 'lv_name,lv_size,lv_time,pool_lv,lv_attr', 'pve',
    ]);
  });
});

describe('lvmthin: parsing lvs', () => {
  it('reads the LV listing', () => {
    const rows = parseLvsListing(RECORDED_LVS_LIST);
    expect(rows).toHaveLength(7);
    expect(rows[0]).toEqual({ name: 'linear', sizeBytes: 16_777_216, createdMs: 1_714_550_300_000, pool: '', attr: '-wi-XX----' });
    expect(rows[5]).toEqual({ name: 'vm-web-fleece-0', sizeBytes: 71_303_168, createdMs: 1_714_560_000_000, pool: 'pool', attr: 'Vwi-XXtz--' });
    expect(parseLvsListing('')).toEqual([]);
    expect(() => parseLvsListing('  vm-1|12|1\n')).toThrow(/lvs: unexpected line/);
    expect(() => parseLvsListing('  vm-1|12.5|1||Vwi-a-tz--\n')).toThrow(/expected a number of bytes/);
  });

  it('reads lv_time in both formats', () => {
    const [linear, fleece] = parseLvsListing(RECORDED_LVS_LIST_DEFAULT_TIME);
    expect(linear?.createdMs).toBe(1_714_550_300_000);
    expect(fleece?.createdMs).toBe(1_714_560_000_000);
    expect(parseLvTime('2024-05-01 12:40:00 +0200')).toBe(1_714_560_000_000);
    expect(parseLvTime('2024-05-01 05:10:00 -0530')).toBe(1_714_560_000_000);
    expect(parseLvTime('')).toBeNull();
    expect(() => parseLvTime('yesterday')).toThrow(/unexpected lv_time/);
  });

  it('reads pool status and computes free space as Proxmox does', () => {
    const inactive = parseThinPoolStatus(RECORDED_POOL_STATUS_INACTIVE);
    expect(inactive).toEqual({ sizeBytes: 134_217_728, dataPercent: null, attr: 'twi---tz--' });
    expect(thinPoolFreeBytes(inactive)).toBe(134_217_728);
    const active = parseThinPoolStatus(ACTIVE_POOL_STATUS);
    expect(active.dataPercent).toBe(12.5);
    expect(thinPoolFreeBytes(active)).toBe(134_217_728 - 16_777_216);
    expect(parseThinPoolStatus('  1000|33,33|twi-aotz--\n').dataPercent).toBeCloseTo(33.33);
    expect(thinPoolFreeBytes({ sizeBytes: 1000, dataPercent: 33.33, attr: 't' })).toBe(667);
    expect(() => parseThinPoolStatus('')).toThrow(/unexpected thin pool status/);
    expect(() => parseThinPoolStatus('  1000|150.00|twi-aotz--\n')).toThrow(/unexpected data_percent/);
    expect(parseLvSize(RECORDED_LV_SIZE)).toBe(71_303_168);
  });
});

describe('lvmthin: behaviour on scripted LVM answers', () => {
  const storage = new LvmThinStorage('shearprobe', 'pool');

  it('allocates, then reports the size LVM rounded up to', async () => {
    const host = scriptedHost((argv) => (program(argv) === 'lvs' ? { stdout: RECORDED_LV_SIZE } : {}));
    const image = await storage.allocate(host, 'vm-web-fleece-0', 67_109_376, 'raw');
    expect(image).toEqual({ name: 'vm-web-fleece-0', path: '/dev/shearprobe/vm-web-fleece-0', format: 'raw', sizeBytes: 71_303_168, blockDevice: true });
    expect(host.calls).toEqual([lvcreateArgv('shearprobe', 'pool', 'vm-web-fleece-0', 67_109_376), lvSizeArgv('shearprobe', 'vm-web-fleece-0')]);
  });

  it('refuses a taken name: lvcreate fails and the name is listed', async () => {
    const host = scriptedHost((argv) => {
      if (program(argv) === 'lvcreate') return { code: 5, stderr: '  Logical Volume "vm-db-fleece-1" already exists in volume group "shearprobe"\n' };
      return { stdout: RECORDED_LVS_LIST };
    });
    await expect(storage.allocate(host, 'vm-db-fleece-1', 4096, 'raw')).rejects.toThrow(ImageExistsError);
    expect(host.calls.map(program)).toEqual(['lvcreate', 'lvs']);
  });

  it('reports other lvcreate failures with LVM message', async () => {
    const host = scriptedHost((argv) => {
      if (program(argv) === 'lvcreate') return { code: 3, stderr: '  thin: Required device-mapper target(s) not detected in your kernel.\n' };
      return { stdout: RECORDED_LVS_LIST };
    });
    const err = await storage.allocate(host, 'vm-new-fleece-0', 4096, 'raw').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect((err as Error).message).toBe(
      'root@host: lvmthin:shearprobe/pool: cannot create vm-new-fleece-0 (exit code 3): thin: Required device-mapper target(s) not detected in your kernel.',
    );
  });

  it('removes a new LV again when its device never appears', async () => {
    const host = scriptedHost((argv) => (argv[0] === 'sh' ? { code: 18, stderr: 'no block device /dev/shearprobe/vm-new-fleece-0 appeared\n' } : {}));
    await expect(storage.allocate(host, 'vm-new-fleece-0', 4096, 'raw')).rejects.toThrow(/created but is not usable .*no block device.*removed again/);
    expect(host.calls.at(-1)).toEqual(lvremoveArgv('shearprobe', 'vm-new-fleece-0'));
  });

  it('refuses formats and names it cannot hold before touching the host', async () => {
    const host = scriptedHost(() => ({}));
    await expect(storage.allocate(host, 'vm-web-fleece-0', 4096, 'qcow2')).rejects.toThrow(/format "qcow2" is not supported here \(supported: raw\)/);
    await expect(storage.allocate(host, 'pool', 4096, 'raw')).rejects.toThrow(StorageSpecError);
    await expect(storage.free(host, 'pool')).rejects.toThrow(/thin pool itself/);
    await expect(storage.free(host, 'a b')).rejects.toThrow(StorageSpecError);
    expect(host.calls).toEqual([]);
  });

  it('frees only thin volumes of its own pool, and a missing one is no error', async () => {
    const host = scriptedHost((argv) => (program(argv) === 'lvs' ? { stdout: RECORDED_LVS_LIST } : {}));
    await storage.free(host, 'vm-web-fleece-0');
    expect(host.calls.map(program)).toEqual(['lvs', 'lvremove']);
    expect(host.calls[1]).toEqual(lvremoveArgv('shearprobe', 'vm-web-fleece-0'));

    host.calls.length = 0;
    await storage.free(host, 'vm-gone-fleece-0');
    expect(host.calls.map(program)).toEqual(['lvs']);

    await expect(storage.free(host, 'linear')).rejects.toThrow(/shearprobe\/linear is not a thin volume of pool pool \(lv_attr -wi-XX----\); refusing/);
    await expect(storage.free(host, 'vm-x-fleece-0')).rejects.toThrow(/not a thin volume of pool pool/);
    await expect(storage.free(host, 'other')).rejects.toThrow(/not a thin volume of pool pool/);
    expect(host.calls.map(program)).not.toContain('lvremove');
  });

  it('treats an LV removed by someone else meanwhile as freed, and reports a real failure', async () => {
    let listed = 0;
    const racing = scriptedHost((argv) => {
      if (program(argv) === 'lvremove') return { code: 5, stderr: '  Failed to find logical volume "shearprobe/vm-web-fleece-0"\n' };
      listed++;
      return { stdout: listed === 1 ? RECORDED_LVS_LIST : '' };
    });
    await expect(storage.free(racing, 'vm-web-fleece-0')).resolves.toBeUndefined();
    expect(racing.calls.map(program)).toEqual(['lvs', 'lvremove', 'lvs']);

    const busy = scriptedHost((argv) =>
      program(argv) === 'lvremove' ? { code: 5, stderr: '  Logical volume shearprobe/vm-web-fleece-0 in use.\n' } : { stdout: RECORDED_LVS_LIST },
    );
    await expect(storage.free(busy, 'vm-web-fleece-0')).rejects.toThrow(/cannot remove vm-web-fleece-0 \(exit code 5\): Logical volume shearprobe\/vm-web-fleece-0 in use\./);
  });

  it('lists the thin volumes of its pool that match, with sizes and ages', async () => {
    const host = scriptedHost(() => ({ stdout: RECORDED_LVS_LIST }));
    expect(await storage.list(host, /^vm-.+-fleece-\d+(\.(qcow2|raw))?$/)).toEqual([
      { name: 'vm-db-fleece-1', path: '/dev/shearprobe/vm-db-fleece-1', format: 'raw', sizeBytes: 4_194_304, blockDevice: true, createdMs: 1_714_560_500_000 },
      { name: 'vm-web-fleece-0', path: '/dev/shearprobe/vm-web-fleece-0', format: 'raw', sizeBytes: 71_303_168, blockDevice: true, createdMs: 1_714_560_000_000 },
    ]);
    expect(host.calls).toEqual([lvsListArgv('shearprobe')]);
    // vm-x-fleece-0 lives in the other pool of the same VG.
    expect((await new LvmThinStorage('shearprobe', 'other').list(host, /fleece/)).map((i) => i.name)).toEqual(['vm-x-fleece-0']);
  });

  it('names the storage, the step and LVM message when lvs fails', async () => {
    // Recorded stderr and exit status of lvs for a VG that does not exist (LVM 2.03.16).
    const host = scriptedHost(() => ({ code: 5, stderr: '  Volume group "nosuchvg" not found\n  Cannot process volume group nosuchvg\n' }));
    const err = await new LvmThinStorage('nosuchvg', 'data').list(host, /x/).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect((err as Error).message).toBe(
      'root@host: lvmthin:nosuchvg/data: cannot list logical volumes (exit code 5): Volume group "nosuchvg" not found\n  Cannot process volume group nosuchvg',
    );
    expect((err as StorageError).cause).toBeInstanceOf(RemoteCommandError);
    expect(((err as StorageError).cause as RemoteCommandError).argv).toEqual(lvsListArgv('nosuchvg'));
  });

  it('reports free pool space and refuses a pool that is not a thin pool', async () => {
    expect(await storage.freeBytes(scriptedHost(() => ({ stdout: ACTIVE_POOL_STATUS })))).toBe(117_440_512);
    expect(await storage.freeBytes(scriptedHost(() => ({ stdout: RECORDED_POOL_STATUS_INACTIVE })))).toBe(134_217_728);
    await expect(new LvmThinStorage('shearprobe', 'linear').freeBytes(scriptedHost(() => ({ stdout: '  16777216||-wi-XX----\n' })))).rejects.toThrow(
      /shearprobe\/linear is not a thin pool \(lv_attr -wi-XX----\)/,
    );
  });
});
