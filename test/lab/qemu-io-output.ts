/**
 * Reading qemu-io's printed results. qemu-io (the standalone tool, and the HMP command of
 * the same name) reports success and failure only as text, e.g.
 *
 *   Pattern verification failed at offset 0, 1048576 bytes
 *   read 1048576/1048576 bytes at offset 0
 *   1 MiB, 1 ops; 00.00 sec (8.196 GiB/sec and 8392.3596 ops/sec)
 *
 * The HMP command drops qemu-io's return value, so this text is the only verdict there is.
 * A read is judged "matches" only on positive evidence (the `read N/N bytes at offset O`
 * line for exactly our request) with no verification failure before it; anything else is a
 * mismatch or an error, never a silent pass.
 */

export interface PatternRange {
  /** Bytes from the start of the disk. */
  offset: number;
  length: number;
  /** The byte every position holds (0..255). */
  pattern: number;
}

export type QemuIoVerdict =
  | { status: 'ok' }
  | { status: 'mismatch'; detail: string }
  | { status: 'failed'; detail: string }
  /** No verdict in the text (yet): output not flushed, or a message we do not know. */
  | { status: 'incomplete' };

/** Throws unless `range` is a sane request (integers, a byte pattern). */
export function checkPatternRange(range: PatternRange, where: string): void {
  const { offset, length, pattern } = range;
  if (!Number.isSafeInteger(offset) || offset < 0) throw new Error(`${where}: bad offset ${offset}`);
  if (!Number.isSafeInteger(length) || length <= 0) throw new Error(`${where}: bad length ${length}`);
  if (!Number.isInteger(pattern) || pattern < 0 || pattern > 255) throw new Error(`${where}: bad pattern ${pattern}`);
}

/** The qemu-io command for a pattern read (verify) or write (fill). */
export function patternCommand(op: 'read' | 'write', range: PatternRange): string {
  const hex = range.pattern.toString(16).padStart(2, '0');
  return `${op} -P 0x${hex} ${range.offset} ${range.length}`;
}

// Messages qemu-io prints when a command did not run or did not complete.
const FAILURE_PATTERNS: RegExp[] = [
  /^(?:read|write|aio_read|aio_write|writev|readv|flush|discard|zone \w+) failed: .*$/m,
  /^command ".*" not found$/m,
  /^qemu-io: .*$/m,
  /^Non-numeric argument.*$/m,
  /^.* is not a sector-aligned value.*$/m,
];

/** Reads the verdict of one `read`/`write` from qemu-io output that holds only its own text. */
export function qemuIoVerdict(output: string, op: 'read' | 'write', range: { offset: number; length: number }): QemuIoVerdict {
  for (const re of FAILURE_PATTERNS) {
    const m = re.exec(output);
    if (m) return { status: 'failed', detail: m[0] };
  }
  const mismatch = /^Pattern verification failed at offset \d+, \d+ bytes$/m.exec(output);
  if (mismatch) return { status: 'mismatch', detail: mismatch[0] };
  const verb = op === 'read' ? 'read' : 'wrote';
  const done = new RegExp(`^${verb} ${range.length}/${range.length} bytes at offset ${range.offset}$`, 'm');
  return done.test(output) ? { status: 'ok' } : { status: 'incomplete' };
}
