// Bundles the main process (ESM) and the preload (CommonJS: sandboxed preloads cannot be ESM).
// ssh2 stays external: its optional native add-ons cannot be bundled.
import { build } from 'esbuild';

const common = { bundle: true, platform: 'node', target: 'node20', sourcemap: true, logLevel: 'info' };

await build({
  ...common,
  entryPoints: ['electron/main.ts'],
  outfile: 'dist/electron/main.js',
  format: 'esm',
  external: ['electron', 'ssh2', 'ssh-config'],
});

await build({
  ...common,
  entryPoints: ['electron/preload.ts'],
  outfile: 'dist/electron/preload.cjs',
  format: 'cjs',
  external: ['electron'],
});
