#!/usr/bin/env node
// Entry point of `npx shear`: runs the TypeScript CLI through tsx, so a fresh clone
// works right after `npm ci` without a build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./shear.ts');
const code = await main(process.argv.slice(2));
process.exitCode = code;
// Exit even if a stray handle lingers; the delay lets piped stdout drain first.
setTimeout(() => process.exit(code), 1_000).unref();
