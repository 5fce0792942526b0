import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';

/** A stand-in for Electron's safeStorage: reversible "encryption" and a selectable backend. */
let backend = 'gnome_libsecret';
vi.mock('electron', () => ({
  safeStorage: {
    isEncryptionAvailable: () => true,
    getSelectedStorageBackend: () => backend,
    encryptString: (s: string) => Buffer.from([...Buffer.from(s)].map((b) => b ^ 0x5a)),
    decryptString: (b: Buffer) => Buffer.from([...b].map((x) => x ^ 0x5a)).toString(),
  },
}));

const { SafeStorageSecrets } = await import('../../electron/secrets.js');
const dir = mkdtempSync(join(tmpdir(), 'shear-secrets-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('secrets through safeStorage', () => {
  it('stores only ciphertext and reads it back', async () => {
    backend = 'gnome_libsecret';
    const store = new SafeStorageSecrets(dir, () => false);
    await store.set('h1', 'hunter2');
    expect(readFileSync(join(dir, 'secrets.json'), 'utf8')).not.toContain('hunter2');
    expect(await store.get('h1')).toBe('hunter2');
    await store.set('h1', null);
    expect(await store.get('h1')).toBeNull();
  });

  it('refuses the basic_text backend on Linux unless the user agreed', async () => {
    backend = 'basic_text';
    let agreed = false;
    const store = new SafeStorageSecrets(dir, () => agreed);
    await expect(store.set('h2', 'pw')).rejects.toThrow(/basic_text/);
    expect(readFileSync(join(dir, 'secrets.json'), 'utf8')).not.toContain('h2');
    agreed = true;
    await store.set('h2', 'pw');
    expect(await store.get('h2')).toBe('pw');
  });
});
