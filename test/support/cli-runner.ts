import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { labFolder, type LabHost } from '../lab/lab-host.js';

/** Runs the real `shear` command (bin.mjs under plain Node) and collects its output. */
export const SHEAR_BIN = join(import.meta.dirname, '..', '..', 'electron', 'cli', 'bin.mjs');

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  lines: Array<Record<string, unknown>>;
}

export interface CliOptions {
  env?: Record<string, string>;
  onStdoutLine?: (line: Record<string, unknown>, child: ChildProcess) => void;
  onStderr?: (text: string, child: ChildProcess) => void;
}

export function runShear(args: string[], o: CliOptions = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [SHEAR_BIN, ...args], { env: { ...process.env, SSH_AUTH_SOCK: '', ...o.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let pending = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      pending += chunk.toString();
      let nl;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const text = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (text.startsWith('{')) o.onStdoutLine?.(JSON.parse(text) as Record<string, unknown>, child);
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      o.onStderr?.(stderr, child);
    });
    child.on('close', (code, signal) => {
      const lines = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
      resolve({ code, signal, stdout, stderr, lines });
    });
  });
}

/** A private HOME with a known_hosts for the lab, and the flags that point the CLI at the lab host. */
export function labCli(lab: LabHost): { home: string; knownHosts: string; hostArgs: () => string[] } {
  const home = labFolder(lab, 'home');
  const knownHosts = join(home, 'known_hosts');
  writeFileSync(knownHosts, `${lab.sshd.knownHostsLine()}\n`);
  return {
    home,
    knownHosts,
    hostArgs: () => ['--host', `root@${lab.sshd.host}`, '--port', String(lab.sshd.port), '--identity', lab.sshd.clientKeyPath, '--known-hosts', knownHosts],
  };
}
