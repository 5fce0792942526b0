/**
 * Errors from the engine side arrive as ApiError with `.name`, `.message` and,
 * for SSH failures, `.kind`. These pure functions turn them into what the
 * screens show.
 */

export interface UiError {
  name: string;
  message: string;
  kind: string | undefined;
}

export function toUiError(err: unknown): UiError {
  if (err instanceof Error) {
    const kind = (err as Error & { kind?: unknown }).kind;
    return { name: err.name, message: err.message, kind: typeof kind === 'string' ? kind : inferKind(err.message) };
  }
  const message = String(err);
  return { name: 'Error', message, kind: inferKind(message) };
}

/**
 * The kind from the engine's wording, for errors that lost `.kind` on the way
 * (Electron's contextBridge drops custom properties of a thrown Error).
 */
export function inferKind(message: string): string | undefined {
  if (/HOST KEY CHANGED/.test(message)) return 'host-key-changed';
  if (/host key .* (was not trusted|and nobody to confirm it)|host key confirmation failed/i.test(message)) return 'host-key-unknown';
  if (/marked @revoked/.test(message)) return 'host-key-revoked';
  return undefined;
}

const HINTS: Record<string, string> = {
  auth: 'Authentication failed: check the user name and the agent, key file or password.',
  key: 'The private key could not be used: check the key file path and its passphrase.',
  refused: 'Connection refused: is sshd running on that address and port?',
  timeout: 'Timed out: check the address, the port and the network.',
  dns: 'Host name not found: check the address.',
  unreachable: 'Host unreachable: check the network.',
  closed: 'The connection was closed by the host.',
  'host-key-unknown': 'The host key was not trusted, so Shear did not log in. Test the connection again to be asked once more.',
  'host-key-revoked': 'The host key is marked @revoked in known_hosts: Shear will not connect.',
  'host-key-changed': 'The host key CHANGED since it was trusted: Shear will not connect.',
};

/** A hint for the error kind, or null. */
export function errorHint(kind: string | undefined): string | null {
  return kind ? (HINTS[kind] ?? null) : null;
}

/** The line a screen shows: the hint first (what to do), then the engine's own words. */
export function errorText(err: unknown): string {
  const e = toUiError(err);
  const hint = errorHint(e.kind);
  return hint ? `${hint} (${e.message})` : e.message;
}

export interface HostKeyChange {
  /** `user@host:port`, when the message names it. */
  target: string | null;
  /** The fingerprint the server offered now. */
  offered: string | null;
  /** The fingerprints known_hosts has for that host. */
  known: string[];
  message: string;
}

const FINGERPRINT = /SHA256:[A-Za-z0-9+/]+=*/g;

/**
 * Reads the engine's HOST KEY CHANGED message:
 * `root@pve:22: HOST KEY CHANGED: the server offered ssh-ed25519 SHA256:new, but /x/known_hosts has SHA256:old for it. ...`
 */
export function parseHostKeyChanged(message: string): HostKeyChange {
  const fingerprints = message.match(FINGERPRINT) ?? [];
  const target = /(\S+): HOST KEY CHANGED/.exec(message)?.[1] ?? null;
  return { target, offered: fingerprints[0] ?? null, known: fingerprints.slice(1), message };
}
