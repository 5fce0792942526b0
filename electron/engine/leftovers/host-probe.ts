import type { HostSession } from '../hosts/host-session.js';
import type { JournalRecord } from '../backup/journal.js';

/**
 * The two host-side reads leftovers need, one SSH exec each: the run journals
 * with the state of their liveness locks, and which paths exist and which QEMU
 * processes hold them open. Both scripts are constants; data arrives as
 * positional arguments and leaves base64-encoded, so no name can break parsing.
 */

export interface JournalOnHost {
  record: JournalRecord;
  /** The run's SSH session still holds the lock: the run is alive. */
  alive: boolean;
  path: string;
}

// `flock -n LOCK true` succeeds only when nobody holds the lock. A zombie holds no lock.
const READ_JOURNALS = `
dir=$1
[ -d "$dir" ] || exit 0
for f in "$dir"/*.json; do
  [ -f "$f" ] || continue
  lock="\${f%.json}.lock"
  if flock -n "$lock" true 2>/dev/null; then state=free; else state=held; fi
  printf '%s %s %s\\n' "$state" "$(printf %s "$f" | base64 -w0)" "$(base64 -w0 < "$f")"
done
`;

export async function readJournals(host: HostSession, dir: string, warn: (m: string) => void): Promise<JournalOnHost[]> {
  const { stdout } = await host.execChecked(['sh', '-c', READ_JOURNALS, 'shear-journals', dir], { timeoutMs: 30_000 });
  const out: JournalOnHost[] = [];
  for (const line of stdout.split('\n')) {
    const [state, path64, body64] = line.split(' ');
    if (!state || !path64) continue;
    const path = Buffer.from(path64, 'base64').toString('utf8');
    try {
      const record = JSON.parse(Buffer.from(body64 ?? '', 'base64').toString('utf8')) as JournalRecord;
      if (record.formatVersion !== 1 || typeof record.runId !== 'string') throw new Error('not a Shear journal');
      out.push({ record, alive: state === 'held', path });
    } catch (err) {
      warn(`${host.label}: skipping unreadable journal ${path}: ${(err as Error).message}`);
    }
  }
  return out;
}

export interface PathState {
  exists: boolean;
  /** QEMU PIDs with an open file descriptor on it. */
  heldBy: number[];
}

// $1: comma-separated QEMU PIDs; then the paths. For each path: exists + resolved target;
// for each PID: the targets of its open fds (NUL-separated, one find per process).
const PATH_STATES = `
pids=$1; shift
for p; do
  if [ -e "$p" ]; then
    printf 'P %s %s\\n' "$(printf %s "$p" | base64 -w0)" "$(readlink -f -- "$p" | tr -d '\\n' | base64 -w0)"
  else
    printf 'M %s\\n' "$(printf %s "$p" | base64 -w0)"
  fi
done
IFS=,
for pid in $pids; do
  [ -d "/proc/$pid/fd" ] || continue
  printf 'F %s %s\\n' "$pid" "$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 -printf '%l\\0' 2>/dev/null | base64 -w0)"
done
`;

export async function pathStates(host: HostSession, paths: string[], qemuPids: number[]): Promise<Map<string, PathState>> {
  const states = new Map<string, PathState>();
  if (paths.length === 0) return states;
  const { stdout } = await host.execChecked(['sh', '-c', PATH_STATES, 'shear-paths', qemuPids.join(','), ...paths], { timeoutMs: 60_000 });
  const resolved = new Map<string, string>();
  const openBy = new Map<string, number[]>();
  for (const line of stdout.split('\n')) {
    const [tag, a, b] = line.split(' ');
    const decode = (s: string | undefined) => Buffer.from(s ?? '', 'base64').toString('utf8');
    if (tag === 'P') resolved.set(decode(a), decode(b));
    else if (tag === 'M') states.set(decode(a), { exists: false, heldBy: [] });
    else if (tag === 'F') {
      for (const target of decode(b).split('\0').filter(Boolean)) {
        const list = openBy.get(target) ?? [];
        list.push(Number(a));
        openBy.set(target, list);
      }
    }
  }
  for (const [path, real] of resolved) {
    states.set(path, { exists: true, heldBy: [...new Set([...(openBy.get(real) ?? []), ...(openBy.get(path) ?? [])])] });
  }
  return states;
}
