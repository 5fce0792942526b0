import type { QemuCapabilities } from '../qmp/capabilities.js';
import { QmpCommandError } from '../qmp/client.js';

/**
 * How the backup job's writes to the archive reach the host, chosen so that a slow target
 * (a NAS over NFS or SMB, sshfs, a USB disk) never holds up the guest.
 *
 * The mechanism, as measured in the lab (a FUSE target letting 4 MiB/s through, QEMU 7.2 and
 * 10.0): with QEMU's default `aio=threads`, every write to the target occupies a worker of the
 * thread pool of the VM's main AioContext for as long as the slow file system holds it (a
 * 1 MiB write at 4 MiB/s: 250 ms). The guest's disk I/O and the copy-before-write of a guest
 * write (read the old data, write it to the fleecing image) are served by the same pool, in
 * the order requests arrived. The backup job keeps up to 64 requests in flight, so a guest
 * write queued behind the job's target writes and waited 250 ms steps, up to seconds, although
 * its own work was on fast storage. (The trace: each copy-before-write read completed right
 * after a target write freed a worker.)
 *
 * So the target is opened with `aio=io_uring`: its writes go through the kernel's ring and
 * never occupy a pool worker, and the guest's path is as fast as without a backup. Where the
 * QEMU build or the kernel has no io_uring, and on SMB/CIFS, where Proxmox VE turns io_uring
 * off too (buffered io_uring writes hang on CIFS since kernel 5.15), the target stays on
 * threads and the job is held to BACKUP_MAX_WORKERS requests in flight, so it can take only a
 * few of the pool's 64 workers.
 */
export type TargetAio = 'io_uring' | 'threads';

/** In-flight requests of each backup job (QEMU's default: 64). Local targets copied as fast with 2 as with 64. */
export const BACKUP_MAX_WORKERS = 2;

/** File systems (as `df --output=fstype` names them) whose io_uring path Proxmox VE avoids. */
const NO_IO_URING = /^(cifs|smb2|smb3|smbfs)$/i;

/** What the host says about its target folder and kernel (preflight). */
export interface TargetHost {
  /** As `df --output=fstype` names it (`nfs4`, `cifs`, `fuse.sshfs`); null if unknown. */
  fsType: string | null;
  /** `kernel.io_uring_disabled` is 2: nobody may set up a ring (QEMU 9 and later then fall back silently). */
  ioUringDisabled: boolean;
}

/** The I/O mode for the archive, and why, in words for the run's log. */
export function targetAio(caps: Pick<QemuCapabilities, 'ioUring'>, host: TargetHost): { aio: TargetAio; why: string } {
  if (!caps.ioUring) return { aio: 'threads', why: 'this QEMU has no io_uring' };
  if (host.ioUringDisabled) return { aio: 'threads', why: 'io_uring is disabled on this host (kernel.io_uring_disabled=2)' };
  if (host.fsType !== null && NO_IO_URING.test(host.fsType)) return { aio: 'threads', why: `the target is on ${host.fsType}, where io_uring is not safe` };
  return { aio: 'io_uring', why: '' };
}

/** `cat /proc/sys/kernel/io_uring_disabled`'s output: missing (old kernel) counts as allowed. */
export function ioUringDisabledBy(sysctlOutput: string): boolean {
  return sysctlOutput.trim() === '2';
}

/** QEMU lists io_uring but could not set up a ring (kernel without it, `io_uring_disabled`, seccomp). */
export function isIoUringRefusal(err: unknown): boolean {
  return err instanceof QmpCommandError && /Unable to use io_uring|io_uring[^:]*not supported/i.test(err.desc);
}
