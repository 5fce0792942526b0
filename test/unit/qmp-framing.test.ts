import { describe, expect, it } from 'vitest';
import { LineSplitter } from '../../electron/engine/qmp/framing.js';

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
