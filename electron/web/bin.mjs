#!/usr/bin/env node
// Entry point of `npm run web`: runs the browser-mode server through tsx (no build step for it).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./main.ts');
await main(process.argv.slice(2));
