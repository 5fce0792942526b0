/** The bench result as a Markdown table (pasted into the README), with the targets beside each figure. */
interface Result {
  date: string;
  machine: string;
  qemuVersion: string;
  guestImpact: (Record<'noBackup' | 'noFleecing' | 'fleecingQcow2' | 'fleecingRaw', { p50Ms: number; p99Ms: number; bySize?: Record<string, { p50Ms: number; p99Ms: number }> }> & {
    ratios: Record<string, { p50: number; p99: number; p99BySize?: Record<string, number> }>;
    copySpeedRatio?: Record<string, number>;
    targetBytesPerSecond: number;
  }) | null;
  throughput: { shearMs: number; convertMs: number; throughputRatio: number; copyMs: number; copyRatio: number; checksumMs?: number } | null;
  overhead: { setupMs: { disks1: number; disks8: number }; teardownMs: { disks1: number; disks8: number }; pauseMs: { disks1: number; disks8: number; p99: number }; sshChannels: { disks1: number; disks8: number }; qmpSessions: { disks1: number; disks8: number } } | null;
  sparse: { sparseMs: number; smallMs: number; sparseBytes: number; smallBytes: number; sparseTimeRatio: number; sparseSizeRatio: number; checksumSparseMs?: number; checksumSmallMs?: number } | null;
}

const verdict = (ok: boolean) => (ok ? 'yes' : '**no**');

export function renderTable(r: Result): string {
  const rows: string[][] = [];
  const g = r.guestImpact;
  if (g) {
    const limit = `${g.targetBytesPerSecond / 1024 / 1024} MiB/s target folder`;
    for (const name of ['noBackup', 'noFleecing', 'fleecingQcow2', 'fleecingRaw'] as const) {
      const ratio = g.ratios[name] ?? { p50: 1, p99: 1 };
      const fleeced = name.startsWith('fleecing');
      // The target holds for each write size on its own (64 KiB and 1 MiB), when the run measured them apart.
      const bySize = Object.entries(ratio.p99BySize ?? {});
      const worstP99 = Math.max(ratio.p99, ...bySize.map(([, r]) => r));
      const sizes = Object.entries(g[name].bySize ?? {}).map(([size, s]) => `${size} p99 ${s.p99Ms} ms`).join(', ');
      rows.push([`guest write, ${name} (${limit})`, `p50 ${g[name].p50Ms} ms, p99 ${g[name].p99Ms} ms${sizes ? ` (${sizes})` : ''}`,
        `×${ratio.p50} / ×${ratio.p99}${bySize.length > 0 ? ` (${bySize.map(([size, r]) => `${size} ×${r}`).join(', ')})` : ''}`,
        fleeced ? 'p99 ≤ ×1.5' : name === 'noFleecing' ? 'shows the stall' : '—',
        fleeced ? verdict(worstP99 <= 1.5) : name === 'noFleecing' ? verdict(ratio.p99 > 1.5) : '—']);
    }
    for (const [name, r] of Object.entries(g.copySpeedRatio ?? {})) {
      rows.push([`… copy speed vs the target's, ${name}`, `×${r}`, '', name.startsWith('fleecing') ? '≥ ×0.8' : '—', name.startsWith('fleecing') ? verdict(r >= 0.8) : '—']);
    }
  }
  if (r.throughput) {
    rows.push(['1 GiB backup vs qemu-img convert (whole run)', `${r.throughput.shearMs} ms vs ${r.throughput.convertMs} ms`, `×${r.throughput.throughputRatio}`, '≤ ×1.1', verdict(r.throughput.throughputRatio <= 1.1)]);
    rows.push(['… QEMU backup job alone (copy step)', `${r.throughput.copyMs} ms`, `×${r.throughput.copyRatio}`, '—', '—']);
    if (r.throughput.checksumMs !== undefined) rows.push(['content checksum of the 1 GiB archive', `${r.throughput.checksumMs} ms`, '', '—', '—']);
  }
  const o = r.overhead;
  if (o) {
    rows.push(['setup (start → jobs running), 1 / 8 disks', `${o.setupMs.disks1} / ${o.setupMs.disks8} ms`, '', '≤ 1000 / 2000 ms', verdict(o.setupMs.disks1 <= 1000 && o.setupMs.disks8 <= 2000)]);
    rows.push(['teardown (jobs done → torn down), 1 / 8 disks', `${o.teardownMs.disks1} / ${o.teardownMs.disks8} ms`, '', '—', '—']);
    rows.push(['guest pause window, 1 / 8 disks (p99 all runs)', `${o.pauseMs.disks1} / ${o.pauseMs.disks8} ms (${o.pauseMs.p99})`, '', '≤ 50 ms', verdict(o.pauseMs.p99 <= 50)]);
    rows.push(['SSH channels / QMP sessions per run, 1 / 8 disks', `${o.sshChannels.disks1} / ${o.sshChannels.disks8}; ${o.qmpSessions.disks1} / ${o.qmpSessions.disks8}`, '', '—', '—']);
  }
  const s = r.sparse;
  if (s) {
    rows.push(['8 GiB sparse (64 MiB data) vs 64 MiB disk: time', `${s.sparseMs} ms vs ${s.smallMs} ms`, `×${s.sparseTimeRatio}`, '≤ ×2', verdict(s.sparseTimeRatio <= 2)]);
    rows.push(['… archive size', `${s.sparseBytes} vs ${s.smallBytes} bytes`, `×${s.sparseSizeRatio}`, '—', '—']);
    if (s.checksumSparseMs !== undefined) rows.push(['… content checksum, 8 GiB sparse vs 64 MiB', `${s.checksumSparseMs} vs ${s.checksumSmallMs} ms`, '', '—', '—']);
  }
  const head = `Shear bench ${r.date.slice(0, 10)} — QEMU ${r.qemuVersion} — ${r.machine}\n\n`;
  const table = [['case', 'measured', 'ratio', 'target', 'met'], ['---', '---', '---', '---', '---'], ...rows].map((row) => `| ${row.join(' | ')} |`).join('\n');
  return head + table;
}
