import { describe, expect, it } from 'vitest';
import { UndoStack } from '../../electron/engine/backup/undo-stack.js';

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
