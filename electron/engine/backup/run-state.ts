/**
 * QEMU run states in which this QEMU's view of the disks is not the VM's: a backup taken
 * then would copy images another QEMU owns (or is about to), or that are inactive here.
 * Every other state is fine: a running VM is paused for its consistent start, a stopped
 * one (paused, prelaunch, shutdown, io-error, guest-panicked…) is copied as it is.
 */
const UNSETTLED: Readonly<Record<string, string>> = {
  inmigrate: 'is waiting for an incoming migration: its disks are the source QEMU\'s until that finishes',
  postmigrate: 'has been migrated away: the destination QEMU owns its disks now',
  'finish-migrate': 'is finishing a migration',
  'save-vm': 'is saving its state (a snapshot or a suspend to disk)',
  'restore-vm': 'is loading a saved state',
  colo: 'runs in COLO fault-tolerance mode, where a secondary QEMU writes the same disks',
};

export class UnsettledRunStateError extends Error {
  constructor(
    readonly vmName: string,
    readonly runState: string,
  ) {
    super(`VM ${vmName} ${UNSETTLED[runState] ?? `is in run state ${runState}`} (QEMU run state "${runState}"); nothing was changed, try again once it has settled`);
    this.name = 'UnsettledRunStateError';
  }
}

/** Throws before anything is created when the VM's run state rules a backup out. */
export function checkRunState(vmName: string, runState: string): void {
  if (Object.hasOwn(UNSETTLED, runState)) throw new UnsettledRunStateError(vmName, runState);
}
