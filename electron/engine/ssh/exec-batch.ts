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
 * positional argument of a constant script: nothing is interpolated. The script
 * writes each command's output to a private temp folder, then prints, per
 * command, a header `<status> <stdout bytes> <stderr bytes>` and the bytes.
 */
/** The batch could not start (no temp folder): none of its commands ran. */
export const BATCH_NO_TEMP_DIR = 97;

const BATCH_SCRIPT = [
  `d=$(mktemp -d 2>/dev/null) || exit ${BATCH_NO_TEMP_DIR}`,
  "trap 'rm -rf -- \"$d\"' EXIT",
  'i=0',
  'for c in "$@"; do i=$((i+1)); ( eval "$c" </dev/null >"$d/$i.o" 2>"$d/$i.e"; echo $? >"$d/$i.r" ) & done',
  'wait',
  'i=0',
  'for c in "$@"; do i=$((i+1)); printf "%s %s %s\\n" "$(cat "$d/$i.r")" "$(wc -c <"$d/$i.o")" "$(wc -c <"$d/$i.e")"; cat "$d/$i.o" "$d/$i.e"; done',
].join('\n');

export function batchArgv(commands: ReadonlyArray<readonly string[]>): string[] {
  return ['sh', '-c', BATCH_SCRIPT, 'shear-batch', ...commands.map((argv) => shellCommand(argv))];
}

/** Splits the batch's stdout (raw bytes: the lengths are byte counts) into one result per command. */
export function parseBatchOutput(raw: Buffer, count: number): ExecResult[] {
  const out: ExecResult[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    const nl = raw.indexOf(0x0a, at);
    if (nl < 0) throw new Error(`batched command ${i + 1} of ${count}: no result header`);
    const header = /^(\d+) +(\d+) +(\d+)$/.exec(raw.subarray(at, nl).toString('latin1').trim());
    if (!header) throw new Error(`batched command ${i + 1} of ${count}: bad result header`);
    const [code, outLen, errLen] = [Number(header[1]), Number(header[2]), Number(header[3])];
    const stdoutStart = nl + 1;
    const stderrStart = stdoutStart + outLen;
    const end = stderrStart + errLen;
    if (end > raw.length) throw new Error(`batched command ${i + 1} of ${count}: output cut short`);
    out.push({
      stdout: raw.subarray(stdoutStart, stderrStart).toString('utf8'),
      stderr: raw.subarray(stderrStart, end).toString('utf8'),
      code,
      signal: null,
    });
    at = end;
  }
  return out;
}
