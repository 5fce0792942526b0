import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Settings } from '../../../shared/contract.js';
import { writeJsonFile } from './host-store.js';

const DEFAULTS: Settings = { allowBasicTextSecrets: false };

/** The app's settings (settings.json in its data folder), readable synchronously by the secret store. */
export class SettingsStore {
  private readonly path: string;
  private value: Settings;

  constructor(dataDir: string) {
    this.path = join(dataDir, 'settings.json');
    try {
      this.value = { ...DEFAULTS, ...(JSON.parse(readFileSync(this.path, 'utf8')) as Partial<Settings>) };
    } catch {
      this.value = { ...DEFAULTS };
    }
  }

  get current(): Settings {
    return { ...this.value };
  }

  async update(patch: Partial<Settings>): Promise<Settings> {
    this.value = { ...this.value, ...patch };
    await writeJsonFile(this.path, this.value);
    return this.current;
  }
}
