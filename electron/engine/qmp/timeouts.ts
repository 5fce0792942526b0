/**
 * How long a QMP command may take before we stop waiting. Graph changes open,
 * flush or close images (a target's blockdev-del flushes its cache; a slow NFS
 * fleecing storage can take many seconds), so they get far more time than queries.
 */
const DEFAULT_MS = 10_000;

const TABLE: Record<string, number> = {
  // stop drains all in-flight guest I/O first, which on slow storage takes a while.
  stop: 60_000,
  cont: 30_000,
  'blockdev-add': 60_000,
  'blockdev-del': 60_000,
  'job-cancel': 60_000,
  'job-finalize': 60_000,
  'job-dismiss': 30_000,
  'blockdev-backup': 30_000,
  'transaction': 60_000,
  'guest-fsfreeze-freeze': 60_000,
  'query-qmp-schema': 20_000,
  'human-monitor-command': 30_000,
};

export function qmpTimeoutMs(command: string): number {
  return TABLE[command] ?? DEFAULT_MS;
}
