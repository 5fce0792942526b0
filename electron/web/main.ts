import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { MemorySecretStore } from '../engine/app/host-store.js';
import { ShearService } from '../engine/api.js';
import { startWebServer } from './server.js';

/** `npm run web`: the desktop UI in a browser, for headless hosts and for tests. */
export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { port: { type: 'string' }, 'data-dir': { type: 'string' }, 'renderer-dir': { type: 'string' } },
  });
  const here = dirname(fileURLToPath(import.meta.url));
  const version = (JSON.parse(readFileSync(join(here, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
  const service = new ShearService({
    dataDir: values['data-dir'] ?? join(homedir(), '.config', 'shear-web'),
    // Browser mode has no OS keyring: secrets live in this process only and are asked again after a restart.
    secrets: new MemorySecretStore(),
    version,
    ...(process.env.SHEAR_JOURNAL_DIR ? { journalDir: process.env.SHEAR_JOURNAL_DIR } : {}),
    log: (level, message) => process.stderr.write(`${level} ${message}\n`),
  });
  const server = await startWebServer({
    service,
    rendererDir: values['renderer-dir'] ?? join(here, '..', '..', 'dist', 'renderer'),
    ...(values.port ? { port: Number(values.port) } : {}),
  });
  process.stdout.write(`Shear is running at ${server.url}\n`);
  const stop = () => {
    void server.close().then(() => service.close()).then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
