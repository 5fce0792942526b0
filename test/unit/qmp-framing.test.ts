import { describe, expect, it } from 'vitest';
import { LineSplitter } from '../../electron/engine/qmp/framing.js';
import { readBeforeGreeting } from '../../electron/engine/qmp/greeting.js';

describe('LineSplitter', () => {
  it('joins messages split across chunks and splits joined ones', () => {
    const s = new LineSplitter();
    expect(s.push(Buffer.from('{"return": {}, "id": "a"}\r\n{"ev'))).toEqual(['{"return": {}, "id": "a"}']);
    expect(s.buffered).toBe(4);
    expect(s.push(Buffer.from('ent": "STOP"}\r\n\r\n'))).toEqual(['{"event": "STOP"}']);
    expect(s.buffered).toBe(0);
  });

  it('never decodes half a UTF-8 character', () => {
    const s = new LineSplitter();
    const bytes = Buffer.from('{"desc": "Größe"}\n');
    const cut = bytes.indexOf(Buffer.from('ö')) + 1; // inside the two-byte ö
    expect(s.push(bytes.subarray(0, cut))).toEqual([]);
    expect(s.push(bytes.subarray(cut))).toEqual(['{"desc": "Größe"}']);
  });
});

describe('readBeforeGreeting', () => {
  it('takes the greeting, skips replies and events owed to an earlier client, and names anything else', () => {
    const greeting = readBeforeGreeting(
      '{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": ["oob"]}}',
    );
    expect(greeting).toMatchObject({ kind: 'greeting', greeting: { version: { qemu: { major: 7 } } } });
    expect(readBeforeGreeting('{"return": [], "id": "shear-1"}')).toEqual({ kind: 'stale' });
    expect(readBeforeGreeting('{"id": "x", "error": {"class": "GenericError", "desc": "no"}}')).toEqual({ kind: 'stale' });
    expect(readBeforeGreeting('{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "STOP"}')).toEqual({ kind: 'stale' });
    // An HMP monitor's banner, a JSON value that is no QMP message, an object without a meaning.
    expect(readBeforeGreeting("QEMU 7.2.0 monitor - type 'help' for more information")).toMatchObject({ kind: 'foreign' });
    expect(readBeforeGreeting('[1, 2]')).toEqual({ kind: 'foreign', reason: 'not a JSON object' });
    expect(readBeforeGreeting('{"hello": 1}')).toEqual({ kind: 'foreign', reason: 'no "QMP" member' });
  });
});
