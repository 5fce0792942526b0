import type { RunEvent } from '../../shared/model.js';

/** Turns engine events into the CLI's output: JSON lines, or human lines plus a live progress line. */
export interface Renderer {
  event(e: RunEvent): void;
  sawResult(): boolean;
  close(): void;
}

function jsonLine(e: RunEvent): Record<string, unknown> | null {
  switch (e.type) {
    case 'log':
      return { type: 'log', level: e.level, message: e.message, ...(e.disk ? { disk: e.disk } : {}), time: e.time };
    case 'warning':
      return { type: 'warning', message: e.message, time: e.time };
    case 'progress':
      return { type: 'progress', disk: e.disk, done: e.done, total: e.total, time: e.time };
    case 'step':
      // Steps are log lines for consumers of the JSON stream; the step name stays machine-readable.
      return { type: 'log', level: e.state === 'failed' ? 'error' : 'info', message: stepText(e), step: e.step, state: e.state, time: e.time };
    case 'result':
      return { type: 'result', ok: e.ok, ...(e.archive ? { archive: e.archive } : {}), ...(e.error ? { error: e.error } : {}), time: e.time };
    case 'latency':
      // The desktop shows guest write latency beside each disk; the CLI's stream keeps its documented types.
      return null;
  }
}

function stepText(e: Extract<RunEvent, { type: 'step' }>): string {
  return `step ${e.step} ${e.state}${e.ms !== undefined ? ` (${e.ms} ms)` : ''}`;
}

function percent(done: number, total: number): number {
  return total > 0 ? Math.floor((done / total) * 100) : 100;
}

/** What the final OK line says, per command. */
const DONE: Record<'backup' | 'restore', string> = { backup: 'backup complete and verified', restore: 'restore complete and verified; record' };

export function createRenderer(o: { json: boolean; tty: boolean; out?: NodeJS.WritableStream; command?: 'backup' | 'restore' }): Renderer {
  const out = o.out ?? process.stdout;
  let result = false;
  const progress = new Map<string, { done: number; total: number }>();
  const lastPrintedDecile = new Map<string, number>();
  let statusShown = false;

  const clearStatus = () => {
    if (statusShown) out.write('\r\x1b[2K');
    statusShown = false;
  };
  const drawStatus = () => {
    const parts = [...progress].map(([disk, p]) => `${disk} ${percent(p.done, p.total)}%`);
    out.write(`\r\x1b[2K${parts.join('  ')}`);
    statusShown = true;
  };
  const line = (text: string) => {
    if (o.tty) clearStatus();
    out.write(`${text}\n`);
    if (o.tty && progress.size > 0) drawStatus();
  };

  return {
    sawResult: () => result,
    close: () => {
      if (o.tty) clearStatus();
    },
    event(e) {
      if (e.type === 'result') result = true;
      if (o.json) {
        const line = jsonLine(e);
        if (line) out.write(`${JSON.stringify(line)}\n`);
        return;
      }
      const time = new Date(e.time).toISOString().slice(11, 19);
      switch (e.type) {
        case 'log':
          if (e.level !== 'debug') line(`${time} ${e.level.padEnd(5)} ${e.disk ? `[${e.disk}] ` : ''}${e.message}`);
          break;
        case 'warning':
          line(`${time} WARNING ${e.message}`);
          break;
        case 'step':
          if (e.state !== 'started') line(`${time} step  ${e.step} ${e.state}${e.ms !== undefined ? ` in ${e.ms} ms` : ''}`);
          break;
        case 'progress': {
          progress.set(e.disk, { done: e.done, total: e.total });
          if (o.tty) drawStatus();
          else {
            const decile = Math.floor(percent(e.done, e.total) / 10);
            if (lastPrintedDecile.get(e.disk) !== decile) {
              lastPrintedDecile.set(e.disk, decile);
              line(`${time} copy  [${e.disk}] ${percent(e.done, e.total)}% (${e.done}/${e.total} bytes)`);
            }
          }
          break;
        }
        case 'latency':
          break;
        case 'result':
          line(e.ok ? `${time} OK    ${DONE[o.command ?? 'backup']}: ${e.archive ?? ''}` : `${time} FAILED ${e.error ?? ''}`);
          break;
      }
    },
  };
}
