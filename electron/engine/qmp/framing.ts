/**
 * QMP speaks one JSON object per line (QEMU ends them with CRLF). Chunks from a
 * socket can split or join lines anywhere, including inside a UTF-8 sequence,
 * so we buffer bytes and decode only complete lines.
 */
export class LineSplitter {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): string[] {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const lines: string[] = [];
    let start = 0;
    for (;;) {
      const nl = this.pending.indexOf(0x0a, start);
      if (nl < 0) break;
      const line = this.pending.subarray(start, nl).toString('utf8').trim();
      if (line) lines.push(line);
      start = nl + 1;
    }
    this.pending = this.pending.subarray(start);
    return lines;
  }

  /** Bytes received after the last newline (a partial message). */
  get buffered(): number {
    return this.pending.length;
  }
}
