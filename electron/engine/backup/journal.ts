import type { ThrottleFilter } from '../../../shared/model.js';
import type { HostSession } from '../hosts/host-session.js';
import type { RemoteHold } from '../ssh/hold.js';

/**
 * A run's record on the host, written BEFORE anything is created: what will
 * exist (images, nodes, jobs, the partial archive), updated as steps complete,
 * deleted on a clean end. If Shear dies, the journal on the host says what to
 * clean up; the lock beside it says whether the run is still alive (a process
 * in the run's SSH session holds it, so it is released when the session dies).
 */

export const DEFAULT_JOURNAL_DIR = '/var/lib/shear/journal';

export interface JournalImage {
  storage: string;
  name: string;
  path: string;
}

export interface JournalRecord {
  formatVersion: 1;
  runId: string;
  host: string;
  vm: { id: string; name: string; pid: number; qmpSockets: string[] };
  startedAt: string;
  updatedAt: string;
  state: 'preparing' | 'running' | 'tearing-down';
  /** Steps completed so far, in order. */
  steps: string[];
  images: JournalImage[];
  /** Every node name the run may create, and the device each filter sits under. */
  nodes: string[];
  /** `throttle`: the filter was put under this throttle filter, not under the device. */
  devices: Array<{ device: string; qomPath: string; originalNode: string; cbwNode: string | null; throttle?: ThrottleFilter }>;
  jobs: string[];
  archivePartialDir: string;
  /** True only while the VM is stopped by this run for the consistent start; cleanup resumes it. */
  vmPausedByShear: boolean;
  /** A Proxmox VM's `backup` lock this run holds (cleanup releases it). */
  proxmoxLock?: { vmid: number };
}

// Constant scripts; paths travel as positional arguments.
// Its own temp name: the lock holder's writer may still be busy with "$2.tmp".
const WRITE_ATOMIC = 'umask 077; mkdir -p -- "$1" && cat > "$2.tmp-exec" && mv -f -- "$2.tmp-exec" "$2"';
// The lock holder also writes the journal: each stdin line is the whole record (one line of
// JSON), written atomically, answered "ok" or "fail". EOF (released, or the SSH session died)
// ends the loop and with it the lock.
// An empty line removes journal and lock (the run left nothing) and ends the holder.
const WRITER = 'echo locked; while IFS= read -r line; do if [ -z "$line" ]; then rm -f -- "$1" "$2" && echo ok || echo fail; exit 0; fi; if printf "%s\\n" "$line" > "$1.tmp" && mv -f -- "$1.tmp" "$1"; then echo ok; else echo fail; fi; done';
const TAKE_LOCK = `umask 077; mkdir -p -- "$1" && exec flock -x -w 10 "$2" sh -c '${WRITER}' shear-journal-writer "$3" "$2"`;

export class RunJournal {
  private hold: RemoteHold | null = null;
  private offReconnect: (() => void) | null = null;

  constructor(
    private readonly host: HostSession,
    readonly record: JournalRecord,
    readonly dir: string = DEFAULT_JOURNAL_DIR,
  ) {}

  get path(): string {
    return `${this.dir}/${this.record.runId}.json`;
  }

  get lockPath(): string {
    return `${this.dir}/${this.record.runId}.lock`;
  }

  /**
   * Writes the record through the lock holder's channel (no new SSH channel per
   * step, which keeps the setup fast); when that channel is gone (reconnect), with
   * a command of its own.
   */
  async write(): Promise<void> {
    this.record.updatedAt = new Date().toISOString();
    const line = JSON.stringify(this.record);
    if (this.hold) {
      const reply = await this.hold.request(line).catch(() => null);
      if (reply === 'ok') return;
      if (reply === 'fail') throw new Error(`${this.host.label}: cannot write the run journal ${this.path}`);
    }
    await this.host.execChecked(['sh', '-c', WRITE_ATOMIC, 'shear-journal', this.dir, this.path], { stdin: `${line}\n`, timeoutMs: 30_000 });
  }

  async step(name: string, patch: Partial<JournalRecord> = {}): Promise<void> {
    Object.assign(this.record, patch);
    this.record.steps.push(name);
    await this.write();
  }

  private takeLock(): Promise<RemoteHold> {
    return this.host.hold(['sh', '-c', TAKE_LOCK, 'shear-lock', this.dir, this.lockPath, this.path], 'locked');
  }

  /**
   * Takes the liveness lock, and takes it again after every reconnect. The old
   * session may hold it a while longer (sshd has not noticed the dead link yet),
   * so that is retried; if it never frees, the run goes on and says so.
   */
  async lock(warn: (message: string) => void): Promise<void> {
    this.hold = await this.takeLock();
    this.offReconnect = this.host.onReconnect(async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          this.hold = await this.takeLock();
          return;
        } catch (err) {
          if (attempt >= 3) {
            warn(`could not take the run lock again after reconnecting (${(err as Error).message}); until this run ends, \`shear leftovers\` may see it as orphaned`);
            return;
          }
        }
      }
    });
  }

  /** Deletes the journal and its lock: the run left nothing behind. */
  async remove(): Promise<void> {
    this.offReconnect?.();
    // The holder removes both files while it still holds the lock: no new channel, no window.
    if ((await this.hold?.request('').catch(() => null)) === 'ok') {
      await this.hold?.ended;
      this.hold = null;
      return;
    }
    this.hold?.release();
    await this.hold?.ended;
    this.hold = null;
    await this.host.execChecked(['rm', '-f', '--', this.path, this.lockPath], { timeoutMs: 30_000 });
  }

  /** Lets go of the lock but keeps the journal (a failed teardown: leftovers will need it). */
  async release(): Promise<void> {
    this.offReconnect?.();
    this.hold?.release();
    await this.hold?.ended;
    this.hold = null;
  }
}
