/** Why an SSH connection could not be made or was lost, in words a user can act on. */
export type SshErrorKind =
  | 'refused'
  | 'timeout'
  | 'dns'
  | 'unreachable'
  | 'auth'
  | 'key'
  | 'host-key-unknown'
  | 'host-key-changed'
  | 'host-key-revoked'
  | 'closed'
  | 'protocol';

export class SshError extends Error {
  constructor(
    readonly kind: SshErrorKind,
    readonly target: string,
    message: string,
    options?: { cause?: unknown; outcomeUnknown?: boolean },
  ) {
    super(`${target}: ${message}`, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SshError';
    this.outcomeUnknown = options?.outcomeUnknown ?? false;
  }

  /** The command was running when the connection died: it may or may not have done its work. */
  readonly outcomeUnknown: boolean;
}

interface Ssh2LikeError extends Error {
  code?: string | number;
  level?: string;
}

/** Maps ssh2/socket errors to an SshError; host-key outcomes are decided by the caller. */
export function classifySshError(err: unknown, target: string): SshError {
  if (err instanceof SshError) return err;
  const e = err as Ssh2LikeError;
  const code = typeof e.code === 'string' ? e.code : undefined;
  const msg = e?.message ?? String(err);
  if (code === 'ECONNREFUSED') return new SshError('refused', target, 'connection refused (is sshd running on that port?)', { cause: err });
  if (code === 'ETIMEDOUT' || e.level === 'client-timeout') {
    return new SshError('timeout', target, `timed out (${msg})`, { cause: err });
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || e.level === 'client-dns') {
    return new SshError('dns', target, `host name not found (${msg})`, { cause: err });
  }
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return new SshError('unreachable', target, `host unreachable (${msg})`, { cause: err });
  if (code === 'ECONNRESET' || code === 'EPIPE') return new SshError('closed', target, `connection reset (${msg})`, { cause: err });
  if (e.level === 'client-authentication') {
    return new SshError('auth', target, 'authentication failed: the server accepted none of the offered methods (key, agent, password)', { cause: err });
  }
  return new SshError('protocol', target, msg, { cause: err });
}
