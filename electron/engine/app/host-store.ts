import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Host, HostInput } from '../../../shared/contract.js';

/**
 * Secrets (passwords, key passphrases) never sit in the hosts file: the desktop
 * app keeps them through Electron's safeStorage, browser mode in memory only.
 */
export interface SecretStore {
  get(hostId: string): Promise<string | null>;
  set(hostId: string, secret: string | null): Promise<void>;
}

export class MemorySecretStore implements SecretStore {
  private readonly secrets = new Map<string, string>();
  async get(hostId: string): Promise<string | null> {
    return this.secrets.get(hostId) ?? null;
  }
  async set(hostId: string, secret: string | null): Promise<void> {
    if (secret === null) this.secrets.delete(hostId);
    else this.secrets.set(hostId, secret);
  }
}

/** Writes JSON atomically: a crash mid-write must not lose the user's hosts. */
export async function writeJsonFile(path: string, value: unknown): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  // Unique per write: two writes of one file at once must not share (and steal) a temp file.
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, path);
}

export async function readJsonFile<T>(path: string, fallback: T): Promise<T> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return fallback;
    throw new Error(`cannot read ${path}: ${(err as Error).message}`);
  }
}

export class HostStore {
  constructor(
    private readonly path: string,
    private readonly secrets: SecretStore,
  ) {}

  async list(): Promise<Host[]> {
    return readJsonFile<Host[]>(this.path, []);
  }

  async get(id: string): Promise<Host> {
    const host = (await this.list()).find((h) => h.id === id);
    if (!host) throw new Error(`no host with id ${id}`);
    return host;
  }

  async save(id: string | undefined, input: HostInput): Promise<Host> {
    const hosts = await this.list();
    const existing = id ? hosts.find((h) => h.id === id) : undefined;
    if (id && !existing) throw new Error(`no host with id ${id}`);
    if (hosts.some((h) => h.name === input.name && h.id !== id)) throw new Error(`a host named "${input.name}" exists already`);
    const hostId = existing?.id ?? randomUUID();
    const secret = input.auth.kind === 'password' ? input.auth.password : input.auth.kind === 'key' ? (input.auth.passphrase ?? null) : null;
    // An edit that leaves the secret field empty keeps the stored one (the UI never sees it).
    const keepSecret = existing && secret === null && input.auth.kind === existing.authKind && existing.hasSecret;
    if (!keepSecret) await this.secrets.set(hostId, secret);
    const host: Host = {
      id: hostId,
      name: input.name,
      address: input.address,
      port: input.port,
      user: input.user,
      authKind: input.auth.kind,
      ...(input.auth.kind === 'key' ? { privateKeyPath: input.auth.privateKeyPath } : {}),
      hasSecret: keepSecret ? true : secret !== null,
    };
    await writeJsonFile(this.path, existing ? hosts.map((h) => (h.id === hostId ? host : h)) : [...hosts, host]);
    return host;
  }

  async remove(id: string): Promise<void> {
    const hosts = await this.list();
    await writeJsonFile(this.path, hosts.filter((h) => h.id !== id));
    await this.secrets.set(id, null);
  }

  secret(id: string): Promise<string | null> {
    return this.secrets.get(id);
  }
}
