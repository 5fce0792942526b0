import { describe, expect, it } from 'vitest';
import { latencyUs } from '../../electron/engine/backup/write-latency.js';
import { RunManager } from '../../electron/engine/app/run-manager.js';

describe('guest write latency', () => {
  it('averages over the interval between two samples, in microseconds', () => {
    expect(latencyUs({ ops: 100, ns: 1_000_000 }, { ops: 110, ns: 6_000_000 })).toBe(500);
    expect(latencyUs(undefined, { ops: 4, ns: 8_000_000 })).toBe(2000);
    expect(latencyUs({ ops: 5, ns: 10 }, { ops: 5, ns: 10 })).toBeNull();
    expect(latencyUs({ ops: 5, ns: 10 }, undefined)).toBeNull();
  });

  it('lands beside the disk in the run snapshot', () => {
    const published: unknown[] = [];
    const runs = new RunManager((u) => published.push(u));
    const { id } = runs.create({ hostId: 'h', hostLabel: 'lab', vmIds: ['web'] });
    runs.apply(id, 'web', { type: 'progress', disk: 'vd0', done: 1, total: 10, time: 1 });
    runs.apply(id, 'web', { type: 'latency', disk: 'vd0', nowUs: 900, beforeUs: 650, time: 2 });
    runs.apply(id, 'web', { type: 'latency', disk: 'unknown', nowUs: 1, beforeUs: null, time: 2 });
    expect(runs.list()[0]?.disks).toEqual([expect.objectContaining({ disk: 'vd0', latencyNowUs: 900, latencyBeforeUs: 650 })]);
    runs.flush();
  });
});
