import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createRenderer } from '../../electron/cli/render.js';
import type { RunEvent } from '../../shared/model.js';

function capture(json: boolean, tty: boolean) {
  const out = new PassThrough();
  let text = '';
  out.on('data', (c: Buffer) => (text += c.toString()));
  const r = createRenderer({ json, tty, out });
  return { r, text: () => text };
}

const t = Date.UTC(2026, 10, 26, 2, 30, 0);
const events: RunEvent[] = [
  { type: 'step', step: 'start', state: 'started', time: t },
  { type: 'log', level: 'info', message: 'guest paused for 12 ms', time: t },
  { type: 'warning', message: 'no guest agent', time: t },
  { type: 'progress', disk: 'vd0', done: 50, total: 100, time: t },
  { type: 'progress', disk: 'scsi0', done: 10, total: 100, time: t },
  { type: 'log', level: 'debug', message: 'noise', time: t },
  { type: 'step', step: 'copy', state: 'done', time: t, ms: 900 },
  { type: 'result', ok: true, archive: '/b/web/20261126T023000Z', time: t },
];

describe('CLI output', () => {
  it('JSON: one typed object per line, result last', () => {
    const { r, text } = capture(true, false);
    events.forEach((e) => r.event(e));
    const lines = text().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(events.length);
    expect(lines.map((l) => l.type)).toEqual(['log', 'log', 'warning', 'progress', 'progress', 'log', 'log', 'result']);
    expect(lines[3]).toMatchObject({ type: 'progress', disk: 'vd0', done: 50, total: 100 });
    expect(lines.at(-1)).toMatchObject({ type: 'result', ok: true, archive: '/b/web/20261126T023000Z' });
    expect(r.sawResult()).toBe(true);
  });

  it('human, not a terminal: a line per event, progress in 10% steps, no debug', () => {
    const { r, text } = capture(false, false);
    events.forEach((e) => r.event(e));
    expect(text()).toBe(
      [
        '02:30:00 info  guest paused for 12 ms',
        '02:30:00 WARNING no guest agent',
        '02:30:00 copy  [vd0] 50% (50/100 bytes)',
        '02:30:00 copy  [scsi0] 10% (10/100 bytes)',
        '02:30:00 step  copy done in 900 ms',
        '02:30:00 OK    backup complete and verified: /b/web/20261126T023000Z',
        '',
      ].join('\n'),
    );
  });

  it('human on a terminal: one live progress line for all disks, redrawn under log lines', () => {
    const { r, text } = capture(false, true);
    events.slice(3, 5).forEach((e) => r.event(e));
    r.event({ type: 'log', level: 'warn', message: 'slow', time: t });
    r.close();
    expect(text()).toContain('\r\x1b[2Kvd0 50%  scsi0 10%');
    expect(text()).toContain('\r\x1b[2K02:30:00 warn  slow\n\r\x1b[2Kvd0 50%  scsi0 10%');
    expect(text().endsWith('\r\x1b[2K')).toBe(true);
  });

  it('says what finished: a restore is not a backup', () => {
    const out = new PassThrough();
    const r = createRenderer({ json: false, tty: false, out, command: 'restore' });
    r.event({ type: 'result', ok: true, archive: '/srv/restore/vm-web-restore-20261126T023000Z.json', time: t });
    expect(String(out.read())).toBe('02:30:00 OK    restore complete and verified; record: /srv/restore/vm-web-restore-20261126T023000Z.json\n');
  });
});
