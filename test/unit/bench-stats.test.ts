import { describe, expect, it } from 'vitest';
import { percentile, spread } from '../../bench/stats.js';
import { renderTable } from '../../bench/table.js';

describe('bench statistics', () => {
  it('takes nearest-rank percentiles: p50 is the middle, p99 of few samples is the worst', () => {
    const samples = [5, 1, 4, 2, 3];
    expect(percentile(samples, 50)).toBe(3);
    expect(percentile(samples, 99)).toBe(5);
    expect(percentile(Array.from({ length: 200 }, (_, i) => i + 1), 99)).toBe(198);
    expect(spread([2.004, 1, 3])).toEqual({ p50Ms: 2, p99Ms: 3 });
    expect(() => percentile([], 50)).toThrow(/no values/);
  });

  it('marks each target met or missed in the table', () => {
    const table = renderTable({
      date: '2026-11-26T00:00:00Z', machine: 'm', qemuVersion: '10.0.2', guestImpact: null, sparse: null, overhead: null,
      throughput: { shearMs: 1200, convertMs: 1000, throughputRatio: 1.2, copyMs: 1050, copyRatio: 1.05 },
    });
    expect(table).toContain('QEMU 10.0.2');
    expect(table).toMatch(/whole run\) \| 1200 ms vs 1000 ms \| ×1.2 \| ≤ ×1.1 \| \*\*no\*\* \|/);
  });
});
