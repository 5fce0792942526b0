import { safeStorage } from 'electron';
import { join } from 'node:path';
import type { SecretStore } from './engine/app/host-store.js';
import { readJsonFile, writeJsonFile } from './engine/app/host-store.js';

/**
 * Passwords and key passphrases, encrypted with Electron's safeStorage (the OS
 * keychain / libsecret / DPAPI) and kept as base64 in secrets.json. On Linux
 * without a keyring safeStorage falls back to `basic_text`, which is plaintext
 * in disguise: then we refuse unless the user agreed to it.
 */
export class SafeStorageSecrets implements SecretStore {
  private readonly path: string;

  constructor(
    dataDir: string,
    private readonly allowBasicText: () => boolean,
  ) {
    this.path = join(dataDir, 'secrets.json');
  }

  private check(): void {
    if (!safeStorage.isEncryptionAvailable()) throw new Error('no system keyring is available to store secrets; use ssh-agent or a key without a passphrase');
    if (process.platform === 'linux' && safeStorage.getSelectedStorageBackend() === 'basic_text' && !this.allowBasicText()) {
      throw new Error('the only secret store on this desktop is "basic_text" (not really encrypted); allow it in Settings or use ssh-agent');
    }
  }

  async get(hostId: string): Promise<string | null> {
    const all = await readJsonFile<Record<string, string>>(this.path, {});
    const value = all[hostId];
    if (value === undefined) return null;
    this.check();
    return safeStorage.decryptString(Buffer.from(value, 'base64'));
  }

  async set(hostId: string, secret: string | null): Promise<void> {
    const all = await readJsonFile<Record<string, string>>(this.path, {});
    if (secret === null) delete all[hostId];
    else {
      this.check();
      all[hostId] = safeStorage.encryptString(secret).toString('base64');
    }
    await writeJsonFile(this.path, all);
  }
}
