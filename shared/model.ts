/**
 * The domain model every face of Shear shares (engine, CLI, IPC, renderer).
 * Plain data only: no functions, no classes, so it crosses IPC and JSON unchanged.
 */

export type ImageFormat = 'qcow2' | 'raw';

/** What a disk is to the backup: data disks are fleeced; firmware state is copied directly. */
export type DiskRole = 'disk' | 'efivars' | 'tpmstate';

export interface VmDisk {
  /** Device id as the user knows it: `vd0`, `scsi0`, `virtio1`, `efidisk0`, or `pflash1` for an unnamed pflash. */
  device: string;
  /** QOM path of the object that owns the `drive` property (qom-set target). */
  qomPath: string;
  /** BlockBackend name for `-drive` disks (`drive-scsi0`); empty for `-blockdev` disks. */
  blockBackend: string;
  /**
   * The node the backup works on: the one directly under the device (`inserted.node-name`),
   * or, under a throttle filter, the one below it.
   */
  nodeName: string;
  /**
   * A `throttle` filter (I/O limits, as Proxmox VE 9 puts over every drive) between the
   * device and `nodeName`. The copy-before-write filter goes below it, so the guest's limits
   * never apply to the backup's reads (as Proxmox's own backup does).
   */
  throttle?: ThrottleFilter;
  /** Format driver of that node (`qcow2`, `raw`, ...). */
  format: string;
  /** Exact virtual size in bytes, as QEMU reports it. */
  sizeBytes: number;
  /** The image behind the node (a path, or a json: filename for complex graphs). */
  file: string;
  backingFile: string | null;
  role: DiskRole;
}

/** A throttle filter node over a drive, with what re-pointing it must give again. */
export interface ThrottleFilter {
  node: string;
  group: string;
  /** Its `detect-zeroes` (a reopen resets it to off unless given again). */
  detectZeroes: string;
}

export type VmRunState = 'running' | 'paused' | 'prelaunch' | 'inmigrate' | 'postmigrate' | 'shutdown' | 'suspended' | 'internal-error' | 'io-error' | 'guest-panicked' | 'watchdog' | 'finish-migrate' | 'restore-vm' | 'save-vm' | 'debug' | 'colo' | 'stopped';

export interface VmSummary {
  /** On plain hosts the `-name`; on Proxmox the VMID. */
  id: string;
  name: string;
  pid: number;
  /** Every QMP monitor socket on the command line, in order. */
  qmpSockets: string[];
  /** Guest agent socket, when the command line has one. */
  guestAgentSocket: string | null;
  /** The full QEMU command line (archived as the VM's definition on plain hosts). */
  argv: string[];
  /** On Proxmox VE hosts: what `pvesh` says of the VM. */
  proxmox?: { vmid: number; status: string; template: boolean; lock: string | null };
}

export interface VmDetails extends VmSummary {
  runState: VmRunState | string;
  qemuVersion: string;
  disks: VmDisk[];
  /** Writable drives that are not backed up, each with why (a passthrough device, an empty disk). */
  skipped?: Array<{ device: string; reason: string }>;
  /** Why the VM could not be inspected (its monitor busy or refused): listed, not selectable. */
  inspectError?: string;
}

/** Events of a backup run, as the engine emits them and every face renders them. */
export type RunEvent =
  | { type: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; message: string; disk?: string; time: number }
  | { type: 'warning'; message: string; time: number }
  | { type: 'step'; step: string; state: 'started' | 'done' | 'failed'; time: number; ms?: number }
  | { type: 'progress'; disk: string; done: number; total: number; time: number }
  /**
   * The guest's own average write latency on a disk (from QEMU's query-blockstats):
   * over the last poll interval, and before the backup started (since the VM started).
   */
  | { type: 'latency'; disk: string; nowUs: number; beforeUs: number | null; time: number }
  | { type: 'result'; ok: boolean; archive?: string; error?: string; time: number };

export interface ManifestDisk {
  device: string;
  /** Relative to the archive folder. */
  file: string;
  format: ImageFormat;
  size: number;
  fleecing: boolean;
  role: DiskRole;
  /** Where the disk's image was (restore into the VM writes there): plain file paths only. */
  source?: { file: string; format: string };
  /** Checksum of the guest-visible content, computed on the host when the backup finished. */
  checksum?: { algorithm: string; digest: string };
}

export interface Manifest {
  formatVersion: 1;
  tool: { name: 'shear'; version: string };
  vm: { id: string; name: string };
  host: string;
  startedAt: string;
  finishedAt: string;
  qemuVersion: string;
  runState: string;
  /** How long the guest was paused for the consistent point in time. */
  pauseMs: number;
  fsFreeze: 'frozen' | 'no-agent' | 'agent-unavailable' | 'failed';
  definition: string;
  disks: ManifestDisk[];
}

/**
 * A trace a run left on a host. `in-use`: a live run or a QEMU holds it (never
 * touched). `orphaned`: recorded in the journal of a run that is gone (safe to
 * remove). `unknown`: matches Shear's names but no journal knows it (removed
 * only when asked for by id).
 */
export type LeftoverClass = 'in-use' | 'orphaned' | 'unknown';

export type LeftoverKind = 'journal' | 'job' | 'filter' | 'node' | 'paused-vm' | 'vm-lock' | 'image' | 'partial-archive';

export interface Leftover {
  /** Stable handle for `cleanup --include-unknown`, e.g. `image:dir:/srv/fleece:vm-web-fleece-0.qcow2`. */
  id: string;
  kind: LeftoverKind;
  class: LeftoverClass;
  /** Why it is in that class, in words. */
  reason: string;
  description: string;
  runId: string | null;
  /** VM id for traces inside a VM (jobs, nodes, filters). */
  vm: string | null;
  /** A filter still under a device: the guest pays for it on every write. */
  urgent: boolean;
  path?: string;
  storage?: string;
  sizeBytes?: number;
  ageMs?: number;
  /** PIDs of QEMU processes holding the image open. */
  heldBy?: number[];
}

export interface CleanupReport {
  removed: Array<{ id: string; description: string }>;
  skipped: Array<{ id: string; description: string; reason: string }>;
  failed: Array<{ id: string; description: string; error: string }>;
}
