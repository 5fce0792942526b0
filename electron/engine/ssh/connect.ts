import { readFile } from 'node:fs/promises';
import type { Duplex } from 'node:stream';
import ssh2, { type AuthenticationType, type ConnectConfig } from 'ssh2';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import { SshError, classifySshError } from './errors.js';
import type {
  KnownHostsFile} from './known-hosts.js';
import {
  checkHostKey,
  keyTypeOf,
  knownKeyTypes,
  sha256Fingerprint,
  type HostKeyCheck,
} from './known-hosts.js';
import type { SshHop } from './ssh-config.js';

// ssh2 is CommonJS; Node's ESM loader cannot see all of its named exports.
const { Client, utils } = ssh2;
type Client = InstanceType<typeof ssh2.Client>;

export type SshAuth =
  | { kind: 'agent'; socket?: string }
  | { kind: 'key'; privateKeyPath: string; passphrase?: string }
  | { kind: 'password'; password: string };

export interface UnknownHostKey {
  host: string;
  port: number;
  keyType: string;
  /** As OpenSSH prints it: `SHA256:...`. */
  fingerprint: string;
  /** Key types this host is already known with (a different one was offered). */
  otherKnownKeyTypes: string[];
}

export interface HostKeyPolicy {
  knownHosts: KnownHostsFile;
  /** Asked for a key not in known_hosts; true trusts it and records it. Absent = refuse. */
  onUnknownKey?: (key: UnknownHostKey) => Promise<boolean>;
}

export interface SshTarget {
  host: string;
  port: number;
  user: string;
  /** Methods tried in order; key files from ssh config are appended by the caller. */
  auth: SshAuth[];
  /** Hosts to hop through first, outermost first (ProxyJump). */
  jumps?: SshHop[];
}

export interface SshConnectOptions {
  hostKeys: HostKeyPolicy;
  readyTimeoutMs?: number;
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
  log?: Logger;
}

/** ssh2 negotiates host key algorithms by name; known_hosts stores key types. */
function algorithmsForKeyType(keyType: string): string[] {
  if (keyType === 'ssh-rsa') return ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
  return [keyType];
}

/** An open, authenticated SSH connection (the last hop when jumping). */
export class SshConnection {
  /** Set once the server refused stream-local forwarding, so later tunnels go straight to socat. */
  streamLocalRefused = false;
  /** Set after the first stream-local tunnel worked (logged once, not per QMP session). */
  streamLocalConfirmed = false;
  private closed = false;
  private readonly closeListeners = new Set<(reason: string) => void>();

  constructor(
    readonly client: Client,
    /** `user@host:port`, used in every message about this host. */
    readonly label: string,
    private readonly hops: Client[],
    readonly log: Logger,
  ) {
    const onGone = (reason: string) => {
      if (this.closed) return;
      this.closed = true;
      for (const l of this.closeListeners) l(reason);
    };
    client.on('close', () => onGone('connection closed'));
    client.on('error', (err: Error) => {
      log('warn', `${label}: SSH connection error: ${err.message}`);
      onGone(err.message);
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  onClose(listener: (reason: string) => void): () => void {
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  close(): void {
    this.client.end();
    for (const hop of [...this.hops].reverse()) hop.end();
  }
}

async function loadKey(auth: Extract<SshAuth, { kind: 'key' }>, target: string): Promise<Buffer> {
  let data: Buffer;
  try {
    data = await readFile(auth.privateKeyPath);
  } catch (err) {
    throw new SshError('key', target, `cannot read key file ${auth.privateKeyPath}: ${(err as Error).message}`);
  }
  const parsed = utils.parseKey(data, auth.passphrase);
  if (parsed instanceof Error) {
    const needsPassphrase = /passphrase/i.test(parsed.message) || /encrypted/i.test(parsed.message);
    throw new SshError(
      'key',
      target,
      needsPassphrase
        ? `key file ${auth.privateKeyPath} is encrypted and the passphrase is ${auth.passphrase ? 'wrong' : 'missing'}`
        : `key file ${auth.privateKeyPath} is not a usable private key (${parsed.message})`,
    );
  }
  return data;
}

type AuthAttempt =
  | { type: 'publickey'; username: string; key: Buffer; passphrase?: string }
  | { type: 'agent'; username: string; agent: string }
  | { type: 'password'; username: string; password: string };

async function authAttempts(user: string, auth: SshAuth[], target: string, log: Logger): Promise<AuthAttempt[]> {
  const attempts: AuthAttempt[] = [];
  for (const a of auth) {
    if (a.kind === 'agent') {
      const socket = a.socket ?? process.env.SSH_AUTH_SOCK;
      if (!socket) {
        log('warn', `${target}: ssh-agent requested but SSH_AUTH_SOCK is not set; skipping the agent`);
        continue;
      }
      attempts.push({ type: 'agent', username: user, agent: socket });
    } else if (a.kind === 'key') {
      const key = await loadKey(a, target);
      attempts.push({ type: 'publickey', username: user, key, ...(a.passphrase ? { passphrase: a.passphrase } : {}) });
    } else {
      attempts.push({ type: 'password', username: user, password: a.password });
    }
  }
  if (attempts.length === 0) throw new SshError('auth', target, 'no authentication method available (give a key, an agent or a password)');
  return attempts;
}

interface HopSpec {
  host: string;
  port: number;
  user: string;
  auth: SshAuth[];
}

async function connectHop(hop: HopSpec, sock: Duplex | undefined, options: SshConnectOptions): Promise<Client> {
  const log = options.log ?? silentLogger;
  const target = `${hop.user}@${hop.host}:${hop.port}`;
  const attempts = await authAttempts(hop.user, hop.auth, target, log);
  const entries = await options.hostKeys.knownHosts.entries();
  const preferred = knownKeyTypes(entries, hop.host, hop.port).flatMap(algorithmsForKeyType);

  // The verifier records why it said no, so the error names the real reason
  // instead of ssh2's generic "Host denied".
  let hostKeyRejection: SshError | null = null;
  const hostVerifier = (key: Buffer, verify: (ok: boolean) => void): void => {
    const fingerprint = sha256Fingerprint(key);
    const keyType = keyTypeOf(key);
    const check: HostKeyCheck = checkHostKey(entries, hop.host, hop.port, key);
    if (check.status === 'known') return verify(true);
    if (check.status === 'revoked') {
      hostKeyRejection = new SshError('host-key-revoked', target, `host key ${fingerprint} is marked @revoked in ${options.hostKeys.knownHosts.path}`);
      return verify(false);
    }
    if (check.status === 'changed') {
      hostKeyRejection = new SshError(
        'host-key-changed',
        target,
        `HOST KEY CHANGED: the server offered ${keyType} ${fingerprint}, but ${options.hostKeys.knownHosts.path} has ${check.knownFingerprints.join(', ')} for it. ` +
          'This may be an attack (man in the middle) or a reinstalled host; remove the old key only if you know why it changed.',
      );
      return verify(false);
    }
    const ask = options.hostKeys.onUnknownKey;
    if (!ask) {
      hostKeyRejection = new SshError('host-key-unknown', target, `unknown host key ${keyType} ${fingerprint} and nobody to confirm it; refusing`);
      return verify(false);
    }
    ask({ host: hop.host, port: hop.port, keyType, fingerprint, otherKnownKeyTypes: check.otherKeyTypes })
      .then(async (trusted) => {
        if (!trusted) {
          hostKeyRejection = new SshError('host-key-unknown', target, `host key ${keyType} ${fingerprint} was not trusted`);
          return verify(false);
        }
        await options.hostKeys.knownHosts.add(hop.host, hop.port, key);
        log('info', `${target}: trusted new host key ${keyType} ${fingerprint}`);
        verify(true);
      })
      .catch((err: unknown) => {
        hostKeyRejection = new SshError('host-key-unknown', target, `host key confirmation failed: ${(err as Error).message}`);
        verify(false);
      });
  };

  let next = 0;
  const config: ConnectConfig = {
    host: hop.host,
    port: hop.port,
    username: hop.user,
    readyTimeout: options.readyTimeoutMs ?? 20_000,
    // ssh2 leaves keepalive off by default: a dead peer would then never be noticed.
    keepaliveInterval: options.keepaliveIntervalMs ?? 10_000,
    keepaliveCountMax: options.keepaliveCountMax ?? 3,
    hostVerifier,
    authHandler: (_methodsLeft: AuthenticationType[] | null, _partial: boolean | null, cb: (next: AuthAttempt | false) => void) => {
      cb(attempts[next++] ?? false);
    },
    ...(preferred.length ? { algorithms: { serverHostKey: { remove: preferred, prepend: preferred } } } : {}),
    ...(sock ? { sock } : {}),
  } as ConnectConfig;

  const client = new Client();
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => {
      client.off('ready', onReady);
      // ssh2 can report more errors while closing; with no listener they would crash the process.
      client.on('error', () => {});
      client.end();
      reject(hostKeyRejection ?? classifySshError(err, target));
    };
    const onReady = () => {
      client.off('error', onError);
      client.on('error', (err: Error) => log('warn', `${target}: SSH connection error: ${err.message}`));
      resolve();
    };
    client.once('ready', onReady);
    client.once('error', onError);
    client.connect(config);
  });
  log('debug', `${target}: SSH connected`);
  return client;
}

function forwardTo(client: Client, host: string, port: number, via: string): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    client.forwardOut('127.0.0.1', 0, host, port, (err, stream) => {
      if (err) reject(new SshError('unreachable', via, `jump host could not reach ${host}:${port}: ${err.message}`));
      else resolve(stream);
    });
  });
}

/** Connects (through jump hosts when given), verifying every host key on the way. */
export async function connectSsh(target: SshTarget, options: SshConnectOptions): Promise<SshConnection> {
  const log = options.log ?? silentLogger;
  const hops: Client[] = [];
  try {
    let sock: Duplex | undefined;
    for (const jump of target.jumps ?? []) {
      const auth: SshAuth[] = [
        ...target.auth,
        ...jump.identityFiles.map((p): SshAuth => ({ kind: 'key', privateKeyPath: p })),
      ];
      const client = await connectHop({ host: jump.host, port: jump.port, user: jump.user, auth }, sock, options);
      hops.push(client);
      const nextHop = target.jumps?.[hops.length] ?? target;
      sock = await forwardTo(client, nextHop.host, nextHop.port, `${jump.user}@${jump.host}:${jump.port}`);
    }
    const client = await connectHop(target, sock, options);
    return new SshConnection(client, `${target.user}@${target.host}:${target.port}`, hops, log);
  } catch (err) {
    for (const hop of hops.reverse()) hop.end();
    throw err;
  }
}
