import type { VmDetails } from '../../../shared/model.js';
import type { HostSession } from '../hosts/host-session.js';
import { guestAgentCommand, GuestAgentTimeoutError } from '../qmp/guest-agent.js';

export type FreezeOutcome = 'frozen' | 'no-agent' | 'agent-unavailable' | 'failed';

interface Reporters {
  warn: (message: string) => void;
  log: (level: 'info' | 'warn', message: string) => void;
}

/**
 * Freezes guest filesystems through the guest agent so the point in time is
 * filesystem-consistent. Without an agent the backup is crash-consistent (like
 * pulling the plug), which is what the user is warned about.
 */
export async function freezeGuest(host: HostSession, vm: VmDetails, r: Reporters): Promise<FreezeOutcome> {
  if (vm.runState !== 'running') return 'no-agent';
  if (!vm.guestAgentSocket) {
    r.warn(`VM ${vm.name} has no guest agent channel: the backup is crash-consistent (filesystems not frozen)`);
    return 'no-agent';
  }
  try {
    await guestAgentCommand(await host.qmp.openQmpStream(vm.guestAgentSocket), 'guest-ping', 2_000);
  } catch (err) {
    r.warn(`guest agent of ${vm.name} is not answering (${(err as Error).message}): the backup is crash-consistent`);
    return 'agent-unavailable';
  }
  try {
    const n = await guestAgentCommand<number>(await host.qmp.openQmpStream(vm.guestAgentSocket), 'guest-fsfreeze-freeze', 60_000);
    r.log('info', `guest filesystems frozen (${n})`);
    return 'frozen';
  } catch (err) {
    r.warn(`guest filesystem freeze failed (${(err as Error).message}): the backup is crash-consistent`);
    if (!(err instanceof GuestAgentTimeoutError)) return 'failed';
    // A freeze that timed out may still complete in the guest: thaw to be safe.
    await thawGuest(host, vm).catch(() => undefined);
    return 'failed';
  }
}

export async function thawGuest(host: HostSession, vm: VmDetails): Promise<void> {
  if (!vm.guestAgentSocket) return;
  await guestAgentCommand(await host.qmp.openQmpStream(vm.guestAgentSocket), 'guest-fsfreeze-thaw', 30_000);
}
