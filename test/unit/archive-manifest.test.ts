import { describe, expect, it } from 'vitest';
import { digestTimeoutMs } from '../../electron/engine/archive/content-digest.js';
import { parseManifest } from '../../electron/engine/archive/manifest.js';
import { restoredCommandLine, selectDisks } from '../../electron/engine/archive/restore.js';

const good = {
  formatVersion: 1,
  tool: { name: 'shear', version: '0.1.0' },
  vm: { id: '100', name: 'web' },
  host: 'root@pve',
  startedAt: '2026-11-26T05:00:00.000Z',
  finishedAt: '2026-11-26T05:01:00.000Z',
  qemuVersion: '10.0.2',
  runState: 'running',
  pauseMs: 12,
  fsFreeze: 'no-agent',
  definition: 'definition.json',
  disks: [
    { device: 'scsi0', file: 'scsi0.qcow2', format: 'qcow2', size: 34359738368, fleecing: true, role: 'disk', checksum: { algorithm: 'sha256-4MiB-chunks', digest: 'a'.repeat(64) } },
    { device: 'efidisk0', file: 'efidisk0.qcow2', format: 'qcow2', size: 540672, fleecing: false, role: 'efivars' },
  ],
};

describe('reading an archive manifest back', () => {
  it('accepts what Shear writes', () => {
    expect(parseManifest(JSON.stringify(good), '/a').disks.map((d) => d.device)).toEqual(['scsi0', 'efidisk0']);
  });

  it('gives truncation, bad fields and escaping file names each a clear error', () => {
    const text = JSON.stringify(good);
    expect(() => parseManifest(text.slice(0, 100), '/a')).toThrow(/^\/a: manifest\.json is not valid JSON \(truncated or damaged\)/);
    expect(() => parseManifest(JSON.stringify({ ...good, disks: [] }), '/a')).toThrow(/malformed: disks:/);
    const escape = { ...good, disks: [{ ...good.disks[0], file: '../../etc/shadow' }] };
    expect(() => parseManifest(JSON.stringify(escape), '/a')).toThrow(/malformed: disks\.0\.file/);
    const badSum = { ...good, disks: [{ ...good.disks[0], checksum: { algorithm: 'x', digest: 'nothex' } }] };
    expect(() => parseManifest(JSON.stringify(badSum), '/a')).toThrow(/disks\.0\.checksum\.digest/);
    const twice = { ...good, disks: [good.disks[0], good.disks[0]] };
    expect(() => parseManifest(JSON.stringify(twice), '/a')).toThrow(/lists disk scsi0 twice/);
  });

  it('selects the disks asked for, or names the ones the archive does not have', () => {
    const m = parseManifest(JSON.stringify(good), '/a');
    expect(selectDisks(m, [], '/a')).toHaveLength(2);
    expect(selectDisks(m, ['efidisk0'], '/a').map((d) => d.device)).toEqual(['efidisk0']);
    expect(() => selectDisks(m, ['scsi1', 'efidisk0'], '/a')).toThrow(/\/a has no disk scsi1 \(it has scsi0, efidisk0\)/);
  });
});

describe('the restored VM\'s command line', () => {
  it('points the archived command line at the restored images and says what it cannot fix', () => {
    const argv = ['qemu-system-x86_64', '-name', 'web', '-blockdev', '{"driver":"qcow2","file":{"driver":"file","filename":"/srv/vm/web.qcow2"},"node-name":"vd0-fmt"}',
      '-drive', 'if=none,id=drive-scsi0,format=raw,file=/srv/vm/data.raw'];
    const r = restoredCommandLine(argv, [
      { device: 'vd0', from: '/srv/vm/web.qcow2', to: '/restore/vm-web-restore-1-vd0.qcow2', fromFormat: 'qcow2', toFormat: 'qcow2' },
      { device: 'scsi0', from: '/srv/vm/data.raw', to: '/restore/vm-web-restore-1-scsi0.qcow2', fromFormat: 'raw', toFormat: 'qcow2' },
      { device: 'vd9', from: '/gone.qcow2', to: '/restore/x.qcow2', fromFormat: 'qcow2', toFormat: 'qcow2' },
    ]);
    expect(r.argv[4]).toContain('"filename":"/restore/vm-web-restore-1-vd0.qcow2"');
    expect(r.argv[6]).toBe('if=none,id=drive-scsi0,format=raw,file=/restore/vm-web-restore-1-scsi0.qcow2');
    expect(r.argv.slice(0, 3)).toEqual(['qemu-system-x86_64', '-name', 'web']);
    expect(r.notes).toEqual([
      'scsi0: restored as qcow2, the VM used raw: change that disk\'s format on the command line',
      'vd9: /gone.qcow2 is not on the archived command line; attach /restore/x.qcow2 yourself',
    ]);
  });

  it('replaces a path only as a whole value: not inside a longer name, and with QemuOpts\' doubled commas', () => {
    const argv = ['-drive', 'file=/srv/vm/web.img,if=virtio,format=raw', '-drive', 'file=/srv/vm/web.img2,if=virtio,format=raw', '-drive', 'file=/srv/a,,b.img,if=none,id=d2', '/srv/vm/hda.img'];
    const r = restoredCommandLine(argv, [
      { device: 'virtio0', from: '/srv/vm/web.img', to: '/r/v0.raw', fromFormat: 'raw', toFormat: 'raw' },
      { device: 'virtio1', from: '/srv/vm/web.img2', to: '/r/v1.raw', fromFormat: 'raw', toFormat: 'raw' },
      { device: 'd2', from: '/srv/a,b.img', to: '/r/x,y.raw', fromFormat: 'raw', toFormat: 'raw' },
      { device: 'hda', from: '/srv/vm/hda.img', to: '/r/hda.raw', fromFormat: 'raw', toFormat: 'raw' },
    ]);
    expect(r.argv).toEqual(['-drive', 'file=/r/v0.raw,if=virtio,format=raw', '-drive', 'file=/r/v1.raw,if=virtio,format=raw', '-drive', 'file=/r/x,,y.raw,if=none,id=d2', '/r/hda.raw']);
    expect(r.notes).toEqual([]);
  });
});

describe('the time a checksum may take', () => {
  it('is 6 hours, or more for a disk too big to read at 20 MiB/s in that time', () => {
    expect(digestTimeoutMs()).toBe(6 * 3600_000);
    expect(digestTimeoutMs(100 * 1024 ** 3)).toBe(6 * 3600_000);
    // 4 TiB at 20 MiB/s: 58.3 hours.
    expect(digestTimeoutMs(4 * 1024 ** 4)).toBe(Math.ceil((4 * 1024 ** 4) / (20 * 1024 ** 2)) * 1000);
  });
});
