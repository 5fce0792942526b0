import type { RunEvent } from '../../../shared/model.js';

// `qemu-img convert -p` prints "    (12.34/100%)" with carriage returns.
const PROGRESS = /\((\d+(?:\.\d+)?)\/100%\)/g;

/**
 * Turns the output of `qemu-img convert -p` into `progress` events for one disk
 * (once per whole percent); `done()` reports the disk complete.
 */
export function convertProgress(disk: string, total: number, emit: (e: RunEvent) => void): { onStdout: (chunk: Buffer) => void; done: () => void } {
  let last = -1;
  return {
    onStdout: (chunk) => {
      for (const m of chunk.toString().matchAll(PROGRESS)) {
        const pct = Math.floor(Number(m[1]));
        if (pct === last) continue;
        last = pct;
        emit({ type: 'progress', disk, done: Math.round((total * pct) / 100), total, time: Date.now() });
      }
    },
    done: () => emit({ type: 'progress', disk, done: total, total, time: Date.now() }),
  };
}
