import { describe, expect, it } from 'vitest';
import { capabilitiesFromSchema } from '../../electron/engine/qmp/capabilities.js';
import { QmpCommandError } from '../../electron/engine/qmp/client.js';
import type { SchemaInfo } from '../../electron/engine/qmp/types.js';
import { ioUringDisabledBy, isIoUringRefusal, targetAio } from '../../electron/engine/backup/target-io.js';

/**
 * The parts of `query-qmp-schema` the target's I/O mode depends on, shaped as QEMU 7.2 prints
 * them (type names masked as numbers; enums with both `values` and `members`).
 */
function schema(o: { ioUring: boolean; xPerf: boolean }): SchemaInfo[] {
  const aioValues = ['threads', 'native', ...(o.ioUring ? ['io_uring'] : [])];
  return [
    { name: 'blockdev-add', 'meta-type': 'command', 'arg-type': '10' },
    { name: '10', 'meta-type': 'object', members: [{ name: 'driver', type: '11' }], tag: 'driver', variants: [{ case: 'file', type: '12' }] },
    { name: '12', 'meta-type': 'object', members: [{ name: 'filename', type: 'str' }, { name: 'aio', type: '13', default: null }] },
    { name: '13', 'meta-type': 'enum', values: aioValues, members: aioValues.map((name) => ({ name })) },
    { name: 'blockdev-backup', 'meta-type': 'command', 'arg-type': '20' },
    { name: '20', 'meta-type': 'object', members: [{ name: 'job-id', type: 'str' }, ...(o.xPerf ? [{ name: 'x-perf', type: '21', default: null }] : [])] },
    { name: '21', 'meta-type': 'object', members: [{ name: 'use-copy-range', type: 'bool' }, { name: 'max-workers', type: 'int' }, { name: 'max-chunk', type: 'int' }] },
  ];
}

describe('the backup target I/O mode', () => {
  it('reads io_uring and x-perf.max-workers from the schema', () => {
    expect(capabilitiesFromSchema(schema({ ioUring: true, xPerf: true }))).toMatchObject({ ioUring: true, backupMaxWorkers: true });
    expect(capabilitiesFromSchema(schema({ ioUring: false, xPerf: false }))).toMatchObject({ ioUring: false, backupMaxWorkers: false });
  });

  it('takes io_uring where QEMU has it and the host allows it, except on SMB/CIFS shares', () => {
    const on = (fsType: string | null) => targetAio({ ioUring: true }, { fsType, ioUringDisabled: false }).aio;
    expect(on('nfs4')).toBe('io_uring');
    expect(on('fuse.sshfs')).toBe('io_uring');
    expect(on(null)).toBe('io_uring');
    for (const fs of ['cifs', 'smb3', 'smb2', 'CIFS']) expect(on(fs), fs).toBe('threads');
    expect(targetAio({ ioUring: false }, { fsType: 'ext4', ioUringDisabled: false })).toEqual({ aio: 'threads', why: 'this QEMU has no io_uring' });
    expect(targetAio({ ioUring: true }, { fsType: 'ext4', ioUringDisabled: true }).why).toMatch(/io_uring_disabled=2/);
  });

  it('reads kernel.io_uring_disabled (0 all, 1 privileged only: QEMU runs as root, 2 nobody)', () => {
    expect(ioUringDisabledBy('2\n')).toBe(true);
    expect(ioUringDisabledBy('0\n')).toBe(false);
    expect(ioUringDisabledBy('1\n')).toBe(false);
    expect(ioUringDisabledBy('')).toBe(false);
  });

  it('tells a refused io_uring from other blockdev-add errors', () => {
    // QEMU's words when the kernel refuses the ring (file-posix: "Unable to use io_uring: ...").
    const refused = new QmpCommandError('blockdev-add', 'GenericError', 'Unable to use io_uring: failed to init linux io_uring ring: Operation not permitted', 'root@pve1:/run/x.qmp');
    expect(isIoUringRefusal(refused)).toBe(true);
    const other = new QmpCommandError('blockdev-add', 'GenericError', "Could not open '/mnt/io_uring/x.qcow2': No such file or directory", 'root@pve1:/run/x.qmp');
    expect(isIoUringRefusal(other)).toBe(false);
    expect(isIoUringRefusal(new Error('Unable to use io_uring'))).toBe(false);
  });
});
