/**
 * Small host utilities for the lab fixture: finding the binaries it needs, a free TCP port
 * and a private temp dir. Nothing here starts a long-lived process.
 */
import { accessSync, constants } from 'node:fs';
import { mkdtemp, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, isAbsolute, join } from 'node:path';

/** A lab prerequisite is missing. The message says which Debian package provides it. */
export class MissingToolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MissingToolError';
  }
}

// sshd lives in /usr/sbin, which is not on every PATH (non-login shells, CI runners).
const EXTRA_DIRS = ['/usr/sbin', '/sbin', '/usr/bin', '/bin'];

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Absolute path of a binary from PATH (or /usr/sbin), or a loud error naming the package.
 * An absolute path is required by sshd (it re-executes itself) and makes logs unambiguous.
 * A name containing a slash is taken as a path (env overrides such as SHEAR_QEMU_BIN).
 */
export function requireTool(name: string, debianPackage: string): string {
  if (name.includes('/')) {
    if (isAbsolute(name) && isExecutable(name)) return name;
    throw new MissingToolError(
      `lab: ${name} is not an executable absolute path (expected from Debian package "${debianPackage}")`,
    );
  }
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter((d) => d !== ''), ...EXTRA_DIRS];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (isAbsolute(candidate) && isExecutable(candidate)) return candidate;
  }
  throw new MissingToolError(
    `lab: "${name}" not found on PATH or in /usr/sbin. Install it with: apt-get install -y ${debianPackage}`,
  );
}

/** A file the lab needs (e.g. OVMF firmware), or a loud error naming the package. */
export function requireFile(path: string, debianPackage: string): string {
  try {
    accessSync(path, constants.R_OK);
    return path;
  } catch {
    throw new MissingToolError(`lab: ${path} is missing. Install it with: apt-get install -y ${debianPackage}`);
  }
}

/**
 * A TCP port on 127.0.0.1 that was free a moment ago. Another process can still take it
 * before we bind it: callers that bind later (sshd) retry with a new port on "in use".
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('lab: could not get a free port'))));
    });
  });
}

/**
 * A new private directory under the system temp dir (TMPDIR). Kept short on purpose: QMP and
 * guest-agent sockets live inside it, and a UNIX socket path must fit in 107 bytes.
 */
export function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** True if `path` exists (for callers that check a teardown). */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
