import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

const WEB_BIN = join(import.meta.dirname, '..', '..', 'electron', 'web', 'bin.mjs');

export interface WebProcess {
  url: string;
  child: ChildProcess;
  output: () => string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Starts `npm run web`'s server (without the build) as its own process, as a user would. */
export function startWebProcess(o: { dataDir: string; rendererDir: string; env?: Record<string, string> }): Promise<WebProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WEB_BIN, '--data-dir', o.dataDir, '--renderer-dir', o.rendererDir], {
      env: { ...process.env, SSH_AUTH_SOCK: '', ...o.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const timer = setTimeout(() => reject(new Error(`browser-mode server did not start:\n${out}`)), 20_000);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const m = /Shear is running at (\S+)/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        const url = m[1];
        resolve({
          url,
          child,
          output: () => out,
          kill: (signal = 'SIGTERM') =>
            new Promise<void>((done) => {
              if (child.exitCode !== null || child.signalCode !== null) return done();
              child.once('exit', () => done());
              child.kill(signal);
            }),
        });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`browser-mode server exited (${String(code)}):\n${out}`));
    });
  });
}
