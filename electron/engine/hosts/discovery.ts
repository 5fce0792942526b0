/**
 * Finding the running QEMU VMs on a host: one SSH exec of a constant script that walks /proc,
 * then the command lines are parsed here (qemu-cmdline.ts).
 */
import type { VmSummary } from '../../../shared/model.js';
import type { HostSession } from './host-session.js';
import { parseQemuCmdline, splitProcCmdline } from './qemu-cmdline.js';

/**
 * Prints one line per QEMU process: `PID CMDLINE CWD`, the last two base64 (so any byte in an
 * argument or path survives), CWD `-` when unreadable.
 *
 * `ls -l` on every `/proc/<pid>/exe` lists all executables with one fork instead of one
 * `readlink` per process (hosts with containers run thousands); its `-> target` text is only a
 * pre-filter: each candidate is then checked exactly with `readlink`, whose basename (minus the
 * ` (deleted)` a package upgrade leaves on a running binary) must be `qemu-system-*`, `kvm` or
 * `qemu-kvm`. Processes that cannot be read (other users', zombies: no exe link), and those that
 * vanish meanwhile, drop out silently. Exit 3/4: a tool or /proc is missing.
 *
 * A constant: nothing from outside is ever part of it.
 */
export const LIST_QEMU_PROCESSES_SCRIPT = `
export LC_ALL=C
[ -r /proc/self/cmdline ] || { echo "no /proc on this host (not Linux?)" >&2; exit 4; }
for tool in base64 readlink ls; do
  command -v "$tool" >/dev/null 2>&1 || { echo "$tool not found on this host" >&2; exit 3; }
done
ls -l /proc/[0-9]*/exe 2>/dev/null | while IFS= read -r line; do
  case $line in
    *' -> '*/qemu-system-*|*' -> '*/kvm|*' -> '*/qemu-kvm|*' -> '*'/kvm (deleted)'|*' -> '*'/qemu-kvm (deleted)') ;;
    *) continue ;;
  esac
  pid=\${line#*/proc/}
  pid=\${pid%%/exe*}
  case $pid in ''|*[!0-9]*) continue ;; esac
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || continue
  exe=\${exe% (deleted)}
  case \${exe##*/} in
    qemu-system-*|kvm|qemu-kvm) ;;
    *) continue ;;
  esac
  args=$(base64 -w0 2>/dev/null < "/proc/$pid/cmdline") || continue
  [ -n "$args" ] || continue
  cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null | base64 -w0)
  printf '%s %s %s\\n' "$pid" "$args" "\${cwd:--}"
done
exit 0
`;

/** One QEMU process as the script reported it. */
export interface QemuProcess {
  pid: number;
  argv: string[];
  /** Its working directory, or null when unreadable. */
  cwd: string | null;
  /** Some argument was not UTF-8 and was decoded with replacement characters. */
  lossy: boolean;
}

/** Parses the script's output; malformed lines are skipped (they cannot come from the script). */
export function parseProcessListing(stdout: string): QemuProcess[] {
  const processes: QemuProcess[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^(\d+) ([A-Za-z0-9+/=]+) ([A-Za-z0-9+/=]+|-)$/.exec(line.trim());
    if (!m) continue;
    const { argv, lossy } = splitProcCmdline(Buffer.from(m[2] as string, 'base64'));
    if (argv.length === 0) continue;
    let cwd: string | null = null;
    if (m[3] !== '-') {
      // readlink printed the target and a newline.
      const text = Buffer.from(m[3] as string, 'base64').toString('utf8').replace(/\n$/, '');
      cwd = text.startsWith('/') ? text : null;
    }
    processes.push({ pid: Number(m[1]), argv, cwd, lossy });
  }
  return processes;
}

/** Orders by name, then PID, comparing numbers inside names by value (`vm2` before `vm10`). */
export function compareNatural(a: string, b: string): number {
  const split = (s: string) => s.match(/\d+|\D+/g) ?? [];
  const pa = split(a);
  const pb = split(b);
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i] as string;
    const y = pb[i] as string;
    if (x === y) continue;
    const xDigits = /^\d/.test(x);
    const yDigits = /^\d/.test(y);
    if (xDigits && yDigits) {
      const byValue = BigInt(x) < BigInt(y) ? -1 : BigInt(x) > BigInt(y) ? 1 : 0;
      if (byValue !== 0) return byValue;
      // Same value, different zero padding: the shorter first.
      return x.length - y.length;
    }
    return x < y ? -1 : 1;
  }
  return pa.length - pb.length;
}

/**
 * Turns QEMU processes into VM summaries (pure; `listVms` feeds it the host's processes).
 *
 * - id = name (plain hosts). When several VMs share a name, NONE of them gets the bare name as
 *   id: each gets `<name>@<pid>`, and a warning is logged. A job configured for "web" then
 *   fails clearly ("no VM web") instead of backing up whichever "web" came first; the user
 *   sees both and can tell them apart by PID and socket.
 * - A process without a QMP socket Shear can connect to is skipped (logged at debug).
 * - Sorted by name (natural order), then PID.
 */
export function summariesFromProcesses(processes: QemuProcess[], log: HostSession['log'], label: string): VmSummary[] {
  const vms: VmSummary[] = [];
  for (const p of processes) {
    const parsed = parseQemuCmdline(p.argv, { fallbackName: `pid-${p.pid}`, cwd: p.cwd });
    if (p.lossy) {
      log('warn', `${label}: QEMU ${p.pid} (${parsed.name}) has command-line arguments that are not UTF-8; paths in them may not be reachable`);
    }
    if (parsed.qmpSockets.length === 0) {
      log('debug', `${label}: QEMU process ${p.pid} (${parsed.name}) has no QMP monitor on a UNIX socket it listens on; it cannot be backed up`);
      continue;
    }
    vms.push({
      id: parsed.name,
      name: parsed.name,
      pid: p.pid,
      qmpSockets: parsed.qmpSockets,
      guestAgentSocket: parsed.guestAgentSocket,
      argv: p.argv,
    });
  }

  const counts = new Map<string, number>();
  for (const vm of vms) counts.set(vm.name, (counts.get(vm.name) ?? 0) + 1);
  for (const vm of vms) {
    if ((counts.get(vm.name) ?? 0) > 1) vm.id = `${vm.name}@${vm.pid}`;
  }
  for (const [name, count] of counts) {
    if (count > 1) log('warn', `${label}: ${count} running VMs are named ${JSON.stringify(name)}; they are listed as ${name}@<pid>`);
  }
  return vms.sort((a, b) => compareNatural(a.name, b.name) || a.pid - b.pid);
}

/** The running QEMU VMs on the host that Shear can back up (one remote command). */
export async function listVms(host: HostSession): Promise<VmSummary[]> {
  const result = await host.execChecked(['sh', '-c', LIST_QEMU_PROCESSES_SCRIPT, 'shear-list-vms'], { timeoutMs: 60_000 });
  const processes = parseProcessListing(result.stdout);
  host.log('debug', `${host.label}: ${processes.length} QEMU process(es) found`);
  return summariesFromProcesses(processes, host.log, host.label);
}
