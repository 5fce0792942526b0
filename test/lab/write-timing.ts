/**
 * Times guest writes: each one a HMP `qemu-io` write through the disk's device (the guest's own
 * path, filters included) on the VM's probe monitor, so the monitor Shear uses stays free. The
 * time is the monitor round trip around the write: the write's own latency plus 1–3 ms.
 *
 * HMP qemu-io waits for its write inside QEMU's main loop; the commands of every monitor run
 * one at a time there, so while a write waits, a monitor command of Shear's waits too.
 */
import { hmpQemuIoCommand } from './guest-io.js';
import type { LabVm } from './qemu.js';
import { withLocalQmp } from './qmp.js';

export interface TimedWrite {
  disk: string;
  offset: number;
  length: number;
  pattern: number;
}

export interface WriteTime extends TimedWrite {
  ms: number;
}

export async function timeGuestWrites(vm: LabVm, writes: TimedWrite[]): Promise<WriteTime[]> {
  const socket = vm.probeSocket;
  if (!socket) throw new Error(`lab VM ${vm.name} has no probe monitor (spec: probeMonitor: true)`);
  return withLocalQmp(socket, async (qmp) => {
    const out: WriteTime[] = [];
    for (const w of writes) {
      const command = hmpQemuIoCommand(vm.disk(w.disk), `write -P ${w.pattern} ${w.offset} ${w.length}`);
      const t0 = performance.now();
      const reply = await qmp.execute('human-monitor-command', { 'command-line': command }, { timeoutMs: 120_000 });
      const ms = performance.now() - t0;
      // A refused command took no time at all: timing it would prove nothing.
      if (reply.trim() !== '') throw new Error(`lab ${vm.name}: ${command} refused: ${reply.trim()}`);
      out.push({ ...w, ms });
    }
    return out;
  }, { label: `lab ${vm.name} probe` });
}

/**
 * Spreads timed guest writes over a backup run: feed it every JSON line of `shear backup
 * --json`; each progress report (one per poll of the jobs) starts the next `perReport` writes
 * if none are under way. `finish()` waits for the last ones and returns the times.
 */
export function writesOnProgress(vm: LabVm, writes: TimedWrite[], perReport = 1): { onLine(line: Record<string, unknown>): void; finish(): Promise<WriteTime[]>; left(): number } {
  const pending = [...writes];
  const times: WriteTime[] = [];
  let inFlight: Promise<void> | null = null;
  let failed: unknown = null;
  return {
    onLine: (line) => {
      if (line.type !== 'progress' || inFlight || pending.length === 0) return;
      const next = pending.splice(0, perReport);
      inFlight = timeGuestWrites(vm, next).then(
        (t) => void times.push(...t),
        (err: unknown) => void (failed = err),
      ).finally(() => void (inFlight = null));
    },
    finish: async () => {
      await inFlight;
      if (failed) throw failed;
      return times;
    },
    left: () => pending.length,
  };
}

/** The copy step's duration from a `shear backup --json` log line, or null for other lines. */
export function copyStepMs(line: Record<string, unknown>): number | null {
  if (line.type !== 'log' || line.step !== 'copy' || line.state !== 'done') return null;
  const ms = /\((\d+) ms\)/.exec(String(line.message))?.[1];
  return ms === undefined ? null : Number(ms);
}
