import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * Packaging cannot run here (it downloads Electron), so the configuration is
 * checked with electron-builder's own schema validator, and for what Shear needs.
 */
const require = createRequire(import.meta.url);
const { validateConfiguration } = require('app-builder-lib/out/util/config/config.js') as {
  validateConfiguration: (config: unknown, logger: unknown) => Promise<void>;
};
const { DebugLogger } = require('builder-util') as { DebugLogger: new (enabled: boolean) => unknown };
const yaml = require('js-yaml') as { load: (text: string) => unknown };

const config = yaml.load(readFileSync(join(import.meta.dirname, '..', '..', 'electron-builder.yml'), 'utf8')) as Record<string, unknown>;

describe('electron-builder.yml', () => {
  it('passes electron-builder\'s schema', async () => {
    await expect(validateConfiguration(config, new DebugLogger(false))).resolves.toBeUndefined();
    await expect(validateConfiguration({ ...config, linux: { ...(config.linux as object), notAnOption: true } }, new DebugLogger(false))).rejects.toThrow(/Invalid configuration object/);
  });

  it('builds AppImage + deb, dmg and nsis, and unpacks ssh2\'s native add-ons from asar', () => {
    expect((config.linux as { target: string[] }).target).toEqual(['AppImage', 'deb']);
    expect((config.mac as { target: string[] }).target).toEqual(['dmg']);
    expect((config.win as { target: string[] }).target).toEqual(['nsis']);
    expect(config.asarUnpack).toEqual(expect.arrayContaining([expect.stringMatching(/ssh2.*\.node/)]));
    expect(config.files).toEqual(['dist/**', 'package.json']);
  });
});
