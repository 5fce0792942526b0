import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectSsh, type UnknownHostKey } from '../../electron/engine/ssh/connect.js';
import { SshHostSession } from '../../electron/engine/hosts/host-session.js';
import { SshError } from '../../electron/engine/ssh/errors.js';
import { execChecked } from '../../electron/engine/ssh/exec.js';
import { KnownHostsFile } from '../../electron/engine/ssh/known-hosts.js';
import { sshTargetFor } from '../../electron/engine/ssh/target.js';
import { freePort } from '../lab/tools.js';
import { generateClientKey, startSshd, type LabSshd } from '../lab/sshd.js';
import { connectToLab, knownHostsWith } from '../support/ssh-session.js';

let sshd: LabSshd;
let scratch: string;

beforeAll(async () => {
  sshd = await startSshd();
  scratch = mkdtempSync(join(tmpdir(), 'shear-ssh-test-'));
});
afterAll(async () => {
  await sshd?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

/** The lab's host key fingerprint as OpenSSH's own ssh-keygen prints it. */
function labFingerprint(): string {
  return execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${sshd.hostKeyPath}.pub`]).toString().split(' ')[1] ?? '';
}

async function expectSshError(promise: Promise<unknown>, kind: SshError['kind']): Promise<SshError> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SshError);
  expect((err as SshError).kind).toBe(kind);
  return err as SshError;
}

const target = (auth = [{ kind: 'key' as const, privateKeyPath: '' }]) => ({
  host: sshd.host,
  port: sshd.port,
  user: sshd.user,
  auth: auth.map((a) => (a.privateKeyPath ? a : { ...a, privateKeyPath: sshd.clientKeyPath })),
});

describe('SSH transport against a real sshd', () => {
  it('logs in with a key file and runs a command', async () => {
    const { conn } = await connectToLab(sshd);
    try {
      const r = await execChecked(conn, ['id', '-un']);
      expect(r.stdout.trim()).toBe('root');
    } finally {
      conn.close();
    }
  });

  it('refuses an unknown host key when nobody confirms it', async () => {
    const err = await expectSshError(connectSsh(target(), { hostKeys: { knownHosts: knownHostsWith(scratch, []) } }), 'host-key-unknown');
    expect(err.message).toContain(labFingerprint());
  });

  it('asks about an unknown key with its SHA256 fingerprint, and refuses when declined', async () => {
    const knownHosts = knownHostsWith(scratch, []);
    const asked: UnknownHostKey[] = [];
    await expectSshError(
      connectSsh(target(), {
        hostKeys: { knownHosts, onUnknownKey: async (k) => (asked.push(k), false) },
      }),
      'host-key-unknown',
    );
    expect(asked).toHaveLength(1);
    expect(asked[0]).toMatchObject({ host: sshd.host, port: sshd.port, keyType: 'ssh-ed25519', fingerprint: labFingerprint() });
    expect(await knownHosts.entries()).toEqual([]);
  });

  it('records a key the user trusts and then connects without asking', async () => {
    const knownHosts = knownHostsWith(scratch, []);
    const first = await connectSsh(target(), { hostKeys: { knownHosts, onUnknownKey: async () => true } });
    first.close();
    expect(readFileSync(knownHosts.path, 'utf8')).toContain(`[${sshd.host}]:${sshd.port} ssh-ed25519 `);
    const second = await connectSsh(target(), { hostKeys: { knownHosts } });
    expect((await execChecked(second, ['true'])).code).toBe(0);
    second.close();
  });

  it('fails hard on a changed host key, naming both fingerprints', async () => {
    const other = generateClientKey(scratch, { type: 'ed25519' });
    const knownHosts = knownHostsWith(scratch, [`[${sshd.host}]:${sshd.port} ${other.publicKeyLine}`]);
    let asked = false;
    const err = await expectSshError(
      connectSsh(target(), { hostKeys: { knownHosts, onUnknownKey: async () => (asked = true) } }),
      'host-key-changed',
    );
    const otherFp = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${other.privateKeyPath}.pub`]).toString().split(' ')[1] ?? '';
    expect(err.message).toContain(labFingerprint());
    expect(err.message).toContain(otherFp);
    expect(asked).toBe(false);
  });

  it('accepts a hashed known_hosts entry', async () => {
    const knownHosts = knownHostsWith(scratch, [sshd.knownHostsLine()]);
    execFileSync('ssh-keygen', ['-H', '-f', knownHosts.path], { stdio: 'ignore' });
    expect(readFileSync(knownHosts.path, 'utf8')).toMatch(/^\|1\|/);
    const conn = await connectSsh(target(), { hostKeys: { knownHosts } });
    conn.close();
  });

  it('uses an encrypted key with its passphrase and explains a wrong or missing one', async () => {
    const key = generateClientKey(scratch, { type: 'ed25519', passphrase: 'correct horse' });
    sshd.addAuthorizedKey(key.publicKeyLine);
    const { conn } = await connectToLab(sshd, { auth: [{ kind: 'key', privateKeyPath: key.privateKeyPath, passphrase: 'correct horse' }] });
    conn.close();
    const wrong = await expectSshError(
      connectToLab(sshd, { auth: [{ kind: 'key', privateKeyPath: key.privateKeyPath, passphrase: 'wrong' }] }),
      'key',
    );
    expect(wrong.message).toMatch(/passphrase is wrong/);
    const missing = await expectSshError(connectToLab(sshd, { auth: [{ kind: 'key', privateKeyPath: key.privateKeyPath }] }), 'key');
    expect(missing.message).toMatch(/passphrase is missing/);
  });

  it('authenticates through ssh-agent', async () => {
    const agentSock = join(scratch, 'agent.sock');
    const agent: ChildProcess = spawn('ssh-agent', ['-D', '-a', agentSock], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 50; i++) {
        try {
          execFileSync('ssh-add', ['-l'], { env: { ...process.env, SSH_AUTH_SOCK: agentSock }, stdio: 'ignore' });
          break;
        } catch (e) {
          // exit 1 = agent up but empty; 2 = not reachable yet
          if ((e as { status?: number }).status === 1) break;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      const key = generateClientKey(scratch, { type: 'ed25519' });
      sshd.addAuthorizedKey(key.publicKeyLine);
      execFileSync('ssh-add', [key.privateKeyPath], { env: { ...process.env, SSH_AUTH_SOCK: agentSock }, stdio: 'ignore' });
      const { conn } = await connectToLab(sshd, { auth: [{ kind: 'agent', socket: agentSock }] });
      expect((await execChecked(conn, ['id', '-u'])).stdout.trim()).toBe('0');
      conn.close();
    } finally {
      agent.kill('SIGTERM');
    }
  });

  it('reports an authentication failure for a key the server does not know', async () => {
    const stranger = generateClientKey(scratch, { type: 'ed25519' });
    const err = await expectSshError(connectToLab(sshd, { auth: [{ kind: 'key', privateKeyPath: stranger.privateKeyPath }] }), 'auth');
    expect(err.message).toContain(`root@${sshd.host}:${sshd.port}`);
  });

  it('reports a refused connection', async () => {
    const port = await freePort();
    const err = await expectSshError(
      connectSsh({ host: '127.0.0.1', port, user: 'root', auth: [{ kind: 'key', privateKeyPath: sshd.clientKeyPath }] }, { hostKeys: { knownHosts: knownHostsWith(scratch, []) } }),
      'refused',
    );
    expect(err.message).toContain(`127.0.0.1:${port}`);
  });

  it('times out on a server that never speaks', async () => {
    const silent: Server = createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as { port: number }).port;
    try {
      const started = Date.now();
      await expectSshError(
        connectSsh(
          { host: '127.0.0.1', port, user: 'root', auth: [{ kind: 'key', privateKeyPath: sshd.clientKeyPath }] },
          { hostKeys: { knownHosts: knownHostsWith(scratch, []) }, readyTimeoutMs: 800 },
        ),
        'timeout',
      );
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      silent.close();
    }
  });

  it('hops through a jump host (ProxyJump), verifying both host keys', async () => {
    const knownHosts = knownHostsWith(scratch, [sshd.knownHostsLine()]);
    const conn = await connectSsh(
      {
        ...target(),
        jumps: [{ host: sshd.host, port: sshd.port, user: 'root', identityFiles: [sshd.clientKeyPath] }],
      },
      { hostKeys: { knownHosts } },
    );
    try {
      // The inner connection arrives from the jump host: sshd sees it as a forwarded (loopback) client.
      const r = await execChecked(conn, ['sh', '-c', 'echo "$SSH_CONNECTION"']);
      expect(r.stdout.trim()).toMatch(new RegExp(`^127\\.0\\.0\\.1 \\d+ 127\\.0\\.0\\.1 ${sshd.port}$`));
    } finally {
      conn.close();
    }
    const refusedAtJump = await expectSshError(
      connectSsh({ ...target(), jumps: [{ host: sshd.host, port: sshd.port, user: 'root', identityFiles: [] }] }, { hostKeys: { knownHosts: new KnownHostsFile(join(scratch, 'none')) } }),
      'host-key-unknown',
    );
    expect(refusedAtJump.message).toContain(`${sshd.host}:${sshd.port}`);
  });

  it('notices a peer that stops answering (keepalive)', async () => {
    const { conn } = await connectToLab(sshd, { keepaliveIntervalMs: 200, keepaliveCountMax: 2 });
    // The shell's parent is the sshd process serving this connection; freezing it silences the peer.
    const sessionPid = Number((await execChecked(conn, ['sh', '-c', 'echo "$PPID"'])).stdout.trim());
    expect(sessionPid).toBeGreaterThan(1);
    process.kill(sessionPid, 'SIGSTOP');
    try {
      const reason = await new Promise<string>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('keepalive did not detect the dead peer')), 5_000);
        conn.onClose((r) => {
          clearTimeout(t);
          resolve(r);
        });
      });
      expect(reason).toMatch(/keepalive/i);
      expect(conn.isClosed).toBe(true);
    } finally {
      for (const signal of ['SIGCONT', 'SIGTERM'] as const) {
        try {
          process.kill(sessionPid, signal);
        } catch {
          // already gone
        }
      }
    }
  });
});

describe('password authentication', () => {
  let pwSshd: LabSshd;
  beforeAll(async () => {
    pwSshd = await startSshd({ rootPassword: 'hunter2 \'"$x' });
  });
  afterAll(async () => {
    await pwSshd?.stop();
  });

  it('logs in with the right password and reports a wrong one as an auth failure', async () => {
    const knownHosts = knownHostsWith(scratch, [pwSshd.knownHostsLine()]);
    const t = { host: pwSshd.host, port: pwSshd.port, user: 'root' };
    const conn = await connectSsh({ ...t, auth: [{ kind: 'password', password: 'hunter2 \'"$x' }] }, { hostKeys: { knownHosts } });
    expect((await execChecked(conn, ['id', '-un'])).stdout.trim()).toBe('root');
    conn.close();
    await expectSshError(connectSsh({ ...t, auth: [{ kind: 'password', password: 'hunter3' }] }, { hostKeys: { knownHosts } }), 'auth');
  });
});

describe('~/.ssh/config aliases', () => {
  it('connects to an alias through its HostName, Port, User, IdentityFile and ProxyJump', async () => {
    const configText = [
      'Host lab-jump',
      `  HostName ${sshd.host}`,
      `  Port ${sshd.port}`,
      '  User root',
      `  IdentityFile ${sshd.clientKeyPath}`,
      'Host lab-pve',
      `  HostName ${sshd.host}`,
      `  Port ${sshd.port}`,
      '  User root',
      `  IdentityFile ${sshd.clientKeyPath}`,
      '  IdentityFile ~/.ssh/does-not-exist',
      '  ProxyJump lab-jump',
    ].join('\n');
    const target = sshTargetFor('lab-pve', [], { configText, home: scratch });
    expect(target).toMatchObject({ host: sshd.host, port: sshd.port, user: 'root' });
    expect(target.auth).toEqual([{ kind: 'key', privateKeyPath: sshd.clientKeyPath }]);
    expect(target.jumps).toHaveLength(1);
    const conn = await connectSsh(target, { hostKeys: { knownHosts: knownHostsWith(scratch, [sshd.knownHostsLine()]) } });
    try {
      expect((await execChecked(conn, ['sh', '-c', 'echo "$SSH_CONNECTION"'])).stdout).toMatch(/^127\.0\.0\.1 /);
    } finally {
      conn.close();
    }
  });
});

describe('a host session that loses its host', () => {
  it('gives up after its reconnect window, then fails the next callers at once, and tries again after a while', async () => {
    let reachable = true;
    let attempts = 0;
    const connect = async () => {
      attempts++;
      if (!reachable) throw new SshError('refused', `root@${sshd.host}:${sshd.port}`, 'connection refused (the host is down)');
      return (await connectToLab(sshd)).conn;
    };
    const session = await SshHostSession.open(connect, { delaysMs: [50], giveUpAfterMs: 600 });
    try {
      reachable = false;
      session.connection.close();
      while (!session.connection.isClosed) await new Promise((r) => setTimeout(r, 10));
      const t0 = Date.now();
      await expect(session.exec(['true'])).rejects.toThrow(/refused/);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(550);
      // An unwind's next steps: no new reconnect cycle each, an answer at once.
      const before = attempts;
      const t1 = Date.now();
      for (let i = 0; i < 5; i++) await expect(session.exec(['true'])).rejects.toThrow(/gave up reconnecting \d+ s ago/);
      expect(Date.now() - t1).toBeLessThan(200);
      expect(attempts).toBe(before);
      // Once the window has passed, a caller tries again, and the host is back.
      await new Promise((r) => setTimeout(r, 650));
      reachable = true;
      expect((await session.execChecked(['echo', 'back'])).stdout).toBe('back\n');
    } finally {
      session.close();
    }
  });
});
