/**
 * Reading a running QEMU's command line (from /proc/<pid>/cmdline): its name, the QMP monitor
 * sockets Shear can connect to, the guest agent socket and, on Proxmox, the VMID. Pure: no
 * files, no processes.
 *
 * QEMU option values use QemuOpts syntax: `key=value,key=value`, where a leading element
 * without `=` is the value of the option's implied first key (`-name vm1`, `-chardev socket`),
 * a bare `key` means `key=on` and `nokey` means `key=off` (old style: `server,nowait`), and
 * `,,` is a literal comma inside a value. `-device` (since QEMU 6.0, used by libvirt) may also
 * be a JSON object.
 */
import { isAbsolute, posix } from 'node:path';

export interface QemuCmdline {
  /** `-name`, or the caller's fallback when there is none. */
  name: string;
  /** QMP monitors on UNIX sockets QEMU listens on, in command-line order (no duplicates). */
  qmpSockets: string[];
  /** The socket of the `org.qemu.guest_agent.0` channel, when QEMU listens on one. */
  guestAgentSocket: string | null;
  /** Proxmox's patched QEMU carries the VMID as `-id 100`. */
  proxmoxId: string | null;
}

export interface ParseCmdlineOptions {
  /** Used when there is no `-name` (discovery passes `pid-<pid>`). */
  fallbackName: string;
  /**
   * QEMU's working directory, to resolve relative socket paths (`-qmp unix:vm.qmp,...`).
   * Without it, relative paths are dropped: they cannot be reached from elsewhere.
   */
  cwd?: string | null;
}

/** One parsed option value: keys in order, the last occurrence of a key wins (as in QEMU). */
export type QemuOpts = Map<string, string>;

/**
 * Parses a QemuOpts string like QEMU's `get_opt_name_value()`: `impliedKey` names a leading
 * element that has no `=` before its first comma.
 */
export function parseQemuOpts(value: string, impliedKey?: string): QemuOpts {
  const opts: QemuOpts = new Map();
  let pos = 0;
  let first = true;
  while (pos < value.length) {
    const rest = value.slice(pos);
    const nameEnd = rest.search(/[=,]/);
    const len = nameEnd < 0 ? rest.length : nameEnd;
    if (rest[len] === '=') {
      const [v, next] = readOptValue(value, pos + len + 1);
      opts.set(rest.slice(0, len), v);
      pos = next;
    } else if (first && impliedKey !== undefined) {
      const [v, next] = readOptValue(value, pos);
      opts.set(impliedKey, v);
      pos = next;
    } else {
      // A flag: `server` is server=on, `nowait` is wait=off.
      const flag = rest.slice(0, len);
      if (flag.startsWith('no') && flag.length > 2) opts.set(flag.slice(2), 'off');
      else if (flag !== '') opts.set(flag, 'on');
      pos += len + 1;
    }
    first = false;
  }
  return opts;
}

/** Reads a value up to a single comma; `,,` is a literal comma. Returns the value and the position after its comma. */
function readOptValue(s: string, start: number): [string, number] {
  let out = '';
  let i = start;
  while (i < s.length) {
    const c = s[i] as string;
    if (c === ',') {
      if (s[i + 1] === ',') {
        out += ',';
        i += 2;
        continue;
      }
      return [out, i + 1];
    }
    out += c;
    i += 1;
  }
  return [out, i];
}

/** QEMU's boolean option values (qapi_bool_parse). */
function isOn(value: string | undefined): boolean {
  return value !== undefined && ['on', 'yes', 'true', 'y'].includes(value);
}

/** A JSON option value (`-device {"driver":...}`), flattened to strings; null if it is not JSON. */
function parseJsonOpts(value: string): QemuOpts | null {
  if (!value.trimStart().startsWith('{')) return null;
  try {
    const parsed: unknown = JSON.parse(value);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return null;
    const opts: QemuOpts = new Map();
    for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
      if (typeof v === 'string') opts.set(k, v);
      else if (typeof v === 'number') opts.set(k, String(v));
      else if (typeof v === 'boolean') opts.set(k, v ? 'on' : 'off');
    }
    return opts;
  } catch {
    return null;
  }
}

function parseOptsOrJson(value: string, impliedKey: string): QemuOpts {
  return parseJsonOpts(value) ?? parseQemuOpts(value, impliedKey);
}

/** The options this module reads, each taking one argument. Every other argument is passed over. */
const WANTED = new Set(['name', 'qmp', 'qmp-pretty', 'chardev', 'mon', 'device', 'id']);

interface Occurrence {
  option: string;
  value: string;
}

/**
 * The occurrences of the options we read, in order. Options are recognised as `-opt` and `--opt`.
 * Only these options consume the next argument; everything else advances by one, so an unknown
 * flag can never swallow an option we need (an unknown option's VALUE would have to be exactly
 * `-name` or similar to confuse this).
 */
function occurrences(argv: readonly string[]): Occurrence[] {
  const found: Occurrence[] = [];
  for (let i = 1; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith('-')) continue;
    const option = arg.startsWith('--') ? arg.slice(2) : arg.slice(1);
    if (!WANTED.has(option)) continue;
    const value = argv[i + 1];
    if (value === undefined) break;
    found.push({ option, value });
    i += 1;
  }
  return found;
}

interface SocketChardev {
  path: string;
}

/**
 * A UNIX socket path QEMU listens on, or null: client sockets (`reconnect=`, no `server=on`,
 * like Proxmox's qmeventd channel), fd-passed sockets (libvirt's `fd=30`), abstract sockets,
 * TCP, and relative paths without a known working directory cannot be connected to.
 */
function listeningUnixPath(opts: QemuOpts, cwd: string | null | undefined): string | null {
  if (!isOn(opts.get('server'))) return null;
  if (opts.has('fd') || isOn(opts.get('abstract'))) return null;
  const path = opts.get('path');
  if (path === undefined || path === '') return null;
  if (isAbsolute(path)) return posix.normalize(path);
  if (cwd === null || cwd === undefined || !isAbsolute(cwd)) return null;
  return posix.join(cwd, path);
}

/** `-qmp unix:PATH,server=on,wait=off` (legacy chardev syntax, implied key `path`), or `-qmp chardev:ID`. */
function legacyMonitorTarget(value: string): { chardev: string } | { opts: QemuOpts } | null {
  if (value.startsWith('chardev:')) return { chardev: value.slice('chardev:'.length) };
  if (value.startsWith('unix:')) return { opts: parseQemuOpts(value.slice('unix:'.length), 'path') };
  return null;
}

const GUEST_AGENT_PORT = 'org.qemu.guest_agent.0';

/** Reads name, QMP sockets, guest agent socket and Proxmox VMID from a QEMU argv (argv[0] is the binary). */
export function parseQemuCmdline(argv: readonly string[], options: ParseCmdlineOptions): QemuCmdline {
  const all = occurrences(argv);
  const cwd = options.cwd;

  // QEMU creates every -chardev before the monitors, so a -mon may name a chardev defined after it.
  const chardevs = new Map<string, SocketChardev | null>();
  for (const { option, value } of all) {
    if (option !== 'chardev') continue;
    const opts = parseQemuOpts(value, 'backend');
    const id = opts.get('id');
    if (id === undefined) continue;
    const path = opts.get('backend') === 'socket' ? listeningUnixPath(opts, cwd) : null;
    chardevs.set(id, path !== null ? { path } : null);
  }

  let name: string | null = null;
  let proxmoxId: string | null = null;
  let guestAgentSocket: string | null = null;
  const qmpSockets: string[] = [];
  const addSocket = (path: string | null | undefined) => {
    if (path && !qmpSockets.includes(path)) qmpSockets.push(path);
  };

  for (const { option, value } of all) {
    switch (option) {
      case 'name': {
        const guest = parseQemuOpts(value, 'guest').get('guest');
        if (guest !== undefined && guest !== '') name = guest;
        break;
      }
      case 'id':
        proxmoxId = value;
        break;
      case 'qmp':
      case 'qmp-pretty': {
        const target = legacyMonitorTarget(value);
        if (target === null) break;
        if ('chardev' in target) addSocket(chardevs.get(target.chardev)?.path);
        else addSocket(listeningUnixPath(target.opts, cwd));
        break;
      }
      case 'mon': {
        const opts = parseQemuOpts(value, 'chardev');
        // Without mode=control it is the human monitor (HMP), which does not speak QMP.
        if (opts.get('mode') !== 'control') break;
        const id = opts.get('chardev');
        if (id !== undefined) addSocket(chardevs.get(id)?.path);
        break;
      }
      case 'device': {
        const opts = parseOptsOrJson(value, 'driver');
        if (opts.get('name') !== GUEST_AGENT_PORT || guestAgentSocket !== null) break;
        const id = opts.get('chardev');
        guestAgentSocket = (id !== undefined ? chardevs.get(id)?.path : null) ?? null;
        break;
      }
    }
  }

  return { name: name ?? options.fallbackName, qmpSockets, guestAgentSocket, proxmoxId };
}

/**
 * Splits the bytes of /proc/<pid>/cmdline (NUL-terminated arguments) into strings.
 * Bytes that are not UTF-8 are replaced (U+FFFD); `lossy` tells the caller it happened,
 * since such a path cannot be reached by its decoded name.
 */
export function splitProcCmdline(bytes: Uint8Array): { argv: string[]; lossy: boolean } {
  const argv: string[] = [];
  let lossy = false;
  const strict = new TextDecoder('utf-8', { fatal: true });
  const loose = new TextDecoder('utf-8');
  let start = 0;
  for (let i = 0; i <= bytes.length; i++) {
    if (i < bytes.length && bytes[i] !== 0) continue;
    // The last argument ends with a NUL too; a missing final NUL still ends the last argument.
    if (i === bytes.length && start === i) break;
    const part = bytes.subarray(start, i);
    try {
      argv.push(strict.decode(part));
    } catch {
      lossy = true;
      argv.push(loose.decode(part));
    }
    start = i + 1;
  }
  return { argv, lossy };
}
