import { describe, expect, it, vi } from 'vitest';
import { createAppStore } from '../../renderer/store/index';
import { LOG_VIEW_LIMIT, applyRunList, applyRunUpdates, diskPercent, filterLog, logAsText, mergeLog, runPercent, sortedRuns, stepsByVm } from '../../renderer/store/runs';
import { fakeApi, lines, run } from './fake-api';

describe('runs reducer', () => {
  it('appends the batched log lines and replaces everything else', () => {
    const first = applyRunUpdates({}, [run({ log: lines(1, 3), disks: [{ vm: 'web', disk: 'scsi0', done: 0, total: 100, rate: 0, etaSeconds: null }] })]);
    const second = applyRunUpdates(first, [
      run({ log: lines(4, 5), disks: [{ vm: 'web', disk: 'scsi0', done: 40, total: 100, rate: 10, etaSeconds: 6 }], warnings: ['web: no guest agent'] }),
    ]);
    const r = second['run-1']!;
    expect(r.log.map((l) => l.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(r.disks).toEqual([{ vm: 'web', disk: 'scsi0', done: 40, total: 100, rate: 10, etaSeconds: 6 }]);
    expect(r.warnings).toEqual(['web: no guest agent']);
    expect(first['run-1']!.log).toHaveLength(3); // not mutated
  });

  it('keeps the log when a batch brings no new lines, and the state replaces', () => {
    const a = applyRunUpdates({}, [run({ log: lines(1, 2) })]);
    const b = applyRunUpdates(a, [run({ log: [], state: 'succeeded', finishedAt: 1_700_000_005_000, archives: ['/mnt/b/web/x'] })]);
    expect(b['run-1']!.log).toBe(a['run-1']!.log);
    expect(b['run-1']!.state).toBe('succeeded');
    expect(b['run-1']!.archives).toEqual(['/mnt/b/web/x']);
  });

  it('caps the log at the newest lines', () => {
    let runs = applyRunUpdates({}, [run({ log: lines(1, 60) })], 100);
    runs = applyRunUpdates(runs, [run({ log: lines(61, 130) })], 100);
    const log = runs['run-1']!.log;
    expect(log).toHaveLength(100);
    expect(log[0]!.seq).toBe(31);
    expect(log[99]!.seq).toBe(130);
  });

  it('merges a full snapshot from runs:list with lines already there, without duplicates', () => {
    const runs = applyRunUpdates({}, [run({ log: lines(5, 8) })]);
    const merged = applyRunList(runs, [run({ log: lines(1, 6) })]);
    expect(merged['run-1']!.log.map((l) => l.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(mergeLog(lines(1, 3), lines(2, 3))).toEqual(lines(1, 3));
  });

  it('keeps other runs and adds new ones', () => {
    const runs = applyRunUpdates({}, [run({ id: 'a', startedAt: 1 }), run({ id: 'b', startedAt: 2 })]);
    const next = applyRunUpdates(runs, [run({ id: 'b', startedAt: 2, state: 'failed' })]);
    expect(next.a).toBe(runs.a);
    expect(sortedRuns(next).map((r) => r.id)).toEqual(['b', 'a']);
  });
});

describe('run selectors', () => {
  it('computes percent from the job numbers, clamped', () => {
    expect(diskPercent({ done: 0, total: 0 })).toBe(0);
    expect(diskPercent({ done: 50, total: 200 })).toBe(25);
    expect(diskPercent({ done: 300, total: 200 })).toBe(100);
    expect(runPercent({ disks: [{ vm: 'a', disk: 'x', done: 50, total: 100, rate: 0, etaSeconds: null }, { vm: 'a', disk: 'y', done: 0, total: 100, rate: 0, etaSeconds: null }] })).toBe(25);
  });

  it('groups steps per VM in run order', () => {
    const groups = stepsByVm(
      run({
        vmIds: ['web', 'db'],
        steps: [
          { vm: 'db', step: 'attach', state: 'done', ms: 3 },
          { vm: 'web', step: 'attach', state: 'done', ms: 5 },
          { vm: 'web', step: 'copy', state: 'started' },
        ],
      }),
    );
    expect(groups.map((g) => [g.vm, g.steps.map((s) => s.step)])).toEqual([
      ['web', ['attach', 'copy']],
      ['db', ['attach']],
    ]);
  });

  it('filters by minimum level and search, rendering only the newest matching lines', () => {
    const log = [...lines(1, 2000), ...lines(2001, 2003, 'warn'), ...lines(2004, 2004, 'error')];
    const all = filterLog(log, { level: 'all', search: '' });
    expect(all.matched).toBe(2004);
    expect(all.lines).toHaveLength(LOG_VIEW_LIMIT);
    expect(all.lines.at(-1)!.seq).toBe(2004);
    expect(filterLog(log, { level: 'warn', search: '' }).lines.map((l) => l.seq)).toEqual([2001, 2002, 2003, 2004]);
    expect(filterLog(log, { level: 'error', search: '' }).matched).toBe(1);
    expect(filterLog(log, { level: 'all', search: 'LINE 199' }).lines.map((l) => l.seq)).toEqual([199, ...Array.from({ length: 10 }, (_, i) => 1990 + i)]);
    expect(logAsText(lines(1, 1))).toMatch(/INFO {2}\[web\] line 1$/);
  });
});

describe('runs actions', () => {
  it('applies runs:update events once subscribed, and stops after unsubscribe', () => {
    const fake = fakeApi();
    const store = createAppStore(fake.api);
    const off = store.getState().subscribeEvents();
    fake.emit('runs:update', [run({ log: lines(1, 2) })]);
    fake.emit('runs:update', [run({ log: lines(3, 3) })]);
    expect(store.getState().runs['run-1']!.log).toHaveLength(3);
    off();
    expect(fake.listenerCount('runs:update')).toBe(0);
  });

  it('cancels through runs:cancel and remembers it asked', async () => {
    const fake = fakeApi({ 'runs:cancel': () => undefined });
    const store = createAppStore(fake.api);
    await store.getState().cancelRun('run-1');
    expect(fake.requestsTo('runs:cancel')).toEqual([{ runId: 'run-1' }]);
    expect(store.getState().cancelling['run-1']).toBe(true);
  });
});

describe('history after a run', () => {
  it('reads the history again shortly after a run ends, if it was shown', async () => {
    vi.useFakeTimers();
    try {
      const fake = fakeApi();
      const store = createAppStore(fake.api);
      await store.getState().loadHistory();
      store.getState().applyRunUpdates([run()]);
      store.getState().applyRunUpdates([run({ state: 'succeeded', finishedAt: 1 })]);
      expect(fake.requestsTo('history:list')).toHaveLength(1);
      await vi.advanceTimersByTimeAsync(600);
      expect(fake.requestsTo('history:list')).toHaveLength(2);
    } finally {
      vi.useRealTimers();
    }
  });
});
