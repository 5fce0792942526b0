import type { ExecResult } from './exec.js';
import { shellCommand } from './quote.js';

/**
 * Several commands in one SSH channel. Opening a channel costs sshd a session
 * (fork, login shell): about 100 ms of host CPU each. Commands the engine starts
 * at the same moment (one per disk, say) are independent by construction, so
 * they can share one channel and run in parallel on the host, each with its
 * own stdout, stderr and exit status.
 *
 * Each command is the same quoted line `exec` would send (`shellCommand`), one
 * positional argument of a constant script: nothing is interpolated. Each runs
 * in the background with its output in a private temp folder; as soon as one
 * ends, it prints (under a lock, so results never interleave) a header
 * `<index> <status> <stdout bytes> <stderr bytes>` and the bytes. So a slow
 * command never holds up the results of the quick ones beside it.
 */

/** The batch could not start (no temp folder): none of its commands ran. */
export const BATCH_NO_TEMP_DIR = 97;

const BATCH_SCRIPT = [
  `d=$(mktemp -d 2>/dev/null) || exit ${BATCH_NO_TEMP_DIR}`,
  "trap 'rm -rf -- \"$d\"' EXIT",
  'report() { printf "%s %s %s %s\\n" "$1" "$2" "$(wc -c <"$d/$1.o")" "$(wc -c <"$d/$1.e")"; cat "$d/$1.o" "$d/$1.e"; }',
  'i=0',
  'for c in "$@"; do',
  '  i=$((i+1))',
  '  ( eval "$c" </dev/null >"$d/$i.o" 2>"$d/$i.e"; r=$?; { flock 9; report "$i" "$r"; } 9>>"$d/lock" ) &',
  'done',
  'wait',
].join('\n');

export function batchArgv(commands: ReadonlyArray<readonly string[]>): string[] {
  return ['sh', '-c', BATCH_SCRIPT, 'shear-batch', ...commands.map((argv) => shellCommand(argv))];
}

/**
 * Reads the batch's stdout as it arrives (raw bytes: the lengths are byte
 * counts) and hands out each command's result the moment it is complete.
 */
export class BatchOutputParser {
  private buffer = Buffer.alloc(0);
  private readonly seen = new Set<number>();

  constructor(private readonly count: number) {}

  /** Results completed by this chunk, with the command's 0-based index. */
  push(chunk: Buffer): Array<{ index: number; result: ExecResult }> {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    const out: Array<{ index: number; result: ExecResult }> = [];
    for (;;) {
      const nl = this.buffer.indexOf(0x0a);
      if (nl < 0) return out;
      const header = /^(\d+) +(\d+) +(\d+) +(\d+)$/.exec(this.buffer.subarray(0, nl).toString('latin1').trim());
      if (!header) throw new Error('batched commands: bad result header');
      const [index, code, outLen, errLen] = [Number(header[1]) - 1, Number(header[2]), Number(header[3]), Number(header[4])];
      if (index < 0 || index >= this.count || this.seen.has(index)) throw new Error(`batched commands: unexpected result for command ${index + 1}`);
      const end = nl + 1 + outLen + errLen;
      if (this.buffer.length < end) return out;
      this.seen.add(index);
      out.push({
        index,
        result: {
          stdout: this.buffer.subarray(nl + 1, nl + 1 + outLen).toString('utf8'),
          stderr: this.buffer.subarray(nl + 1 + outLen, end).toString('utf8'),
          code,
          signal: null,
        },
      });
      this.buffer = this.buffer.subarray(end);
    }
  }

  /** Commands with no result yet (0-based). */
  missing(): number[] {
    return Array.from({ length: this.count }, (_, i) => i).filter((i) => !this.seen.has(i));
  }

  /** Bytes left over after the last complete result (a cut-short stream). */
  get pending(): number {
    return this.buffer.length;
  }
}
