import { describe, expect, it } from 'vitest';
import type { RunEvent } from '../../shared/model.js';
import { convertProgress } from '../../electron/engine/backup/convert-progress.js';

describe('qemu-img convert -p progress', () => {
  it('reports each whole percent once, across chunks, then the disk complete', () => {
    const events: RunEvent[] = [];
    const p = convertProgress('scsi0', 1000, (e) => events.push(e));
    p.onStdout(Buffer.from('    (0.00/100%)\r    (1.01/100%)\r    (1.99/100%)\r'));
    p.onStdout(Buffer.from('    (50.50/100%)\r'));
    p.done();
    expect(events.map((e) => (e.type === 'progress' ? [e.disk, e.done, e.total] : e.type))).toEqual([
      ['scsi0', 0, 1000], ['scsi0', 10, 1000], ['scsi0', 500, 1000], ['scsi0', 1000, 1000],
    ]);
  });
});
