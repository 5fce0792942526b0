import { describe, expect, it } from 'vitest';
import { UndoStack } from '../../electron/engine/backup/undo-stack.js';
import { UncertainOutcomeError } from '../../electron/engine/ssh/exec.js';

describe('UndoStack', () => {
  it('runs undos in reverse, isolated, reporting failures without stopping', async () => {
    const ran: string[] = [];
    const warnings: string[] = [];
    const stack = new UndoStack();
    stack.push('a', async () => void ran.push('a'));
    stack.push('b', async () => {
      ran.push('b');
      throw new Error('boom');
    });
    stack.push('c', async () => void ran.push('c'));
    const report = await stack.unwind({ ok: false }, (w) => warnings.push(w));
    expect(ran).toEqual(['c', 'b', 'a']);
    expect(report).toEqual({ done: ['c', 'a'], failed: [{ name: 'b', error: 'boom' }] });
    expect(warnings).toEqual(['cleanup step "b" failed: boom']);
    expect(stack.size).toBe(0);
  });

  it('skips rollback-only entries after success and tells teardown the outcome', async () => {
    const seen: string[] = [];
    const stack = new UndoStack();
    stack.push('remove partial archive', async () => void seen.push('rollback'), 'on-failure');
    stack.push('end job', async ({ ok }) => void seen.push(ok ? 'dismiss' : 'cancel'));
    await stack.unwind({ ok: true }, () => {});
    expect(seen).toEqual(['dismiss']);
    stack.push('remove partial archive', async () => void seen.push('rollback'), 'on-failure');
    stack.push('end job', async ({ ok }) => void seen.push(ok ? 'dismiss' : 'cancel'));
    await stack.unwind({ ok: false }, () => {});
    expect(seen).toEqual(['dismiss', 'cancel', 'rollback']);
  });
});

describe('UndoStack groups', () => {
  it('runs neighbouring entries of one group at the same time, each isolated, and the rest in order', async () => {
    const events: string[] = [];
    const gate: Array<() => void> = [];
    const stack = new UndoStack();
    stack.push('first', async () => void events.push('first'));
    for (const n of [1, 2, 3]) {
      stack.push(`free ${n}`, async () => {
        events.push(`start ${n}`);
        await new Promise<void>((r) => gate.push(r));
        events.push(`end ${n}`);
        if (n === 2) throw new Error('busy');
      }, 'always', 'free');
    }
    stack.push('last', async () => void events.push('last'));
    const unwinding = stack.unwind({ ok: true }, () => {});
    await new Promise((r) => setTimeout(r, 10));
    // All three started before any ended: they run together.
    expect(events).toEqual(['last', 'start 3', 'start 2', 'start 1']);
    gate.forEach((open) => open());
    const report = await unwinding;
    expect(events.at(-1)).toBe('first');
    expect(report.failed).toEqual([{ name: 'free 2', error: 'busy' }]);
    expect(report.done).toEqual(expect.arrayContaining(['last', 'free 1', 'free 3', 'first']));
  });
});

describe('UndoStack.take', () => {
  it('registers the undo a step hands back, the one an uncertain step carries, and none for a plain failure', async () => {
    const undo = new UndoStack();
    const ran: string[] = [];
    await undo.take('taken', async () => async () => void ran.push('taken'));
    const uncertain = new UncertainOutcomeError('maybe', async () => void ran.push('maybe'), { cause: new Error('link lost') });
    await expect(undo.take('maybe', () => Promise.reject(uncertain))).rejects.toBe(uncertain);
    await expect(undo.take('refused', () => Promise.reject(new Error('locked by another')))).rejects.toThrow('locked by another');
    expect(undo.names()).toEqual(['taken', 'maybe']);
    await undo.unwind({ ok: false }, () => {});
    expect(ran).toEqual(['maybe', 'taken']);
  });
});
