import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';

/**
 * The Electron binary cannot run here, so the main process is loaded with a
 * minimal stand-in for the `electron` module that records what main.ts asks of
 * it: the window's options, the IPC handlers, the permission and navigation guards.
 */
const dataDir = mkdtempSync(join(tmpdir(), 'shear-electron-'));
const recorded = {
  windows: [] as Array<{ options: Record<string, unknown>; openHandler?: (d: { url: string }) => unknown; navigate?: (e: { preventDefault(): void }, url: string) => void; loaded?: string }>,
  handlers: new Map<string, (event: unknown, input: unknown) => Promise<unknown>>(),
  permission: null as null | ((wc: unknown, permission: string, cb: (ok: boolean) => void) => void),
  opened: [] as string[],
  appEvents: new Map<string, (event: { preventDefault(): void }) => void>(),
  quits: 0,
};

vi.mock('electron', () => {
  class BrowserWindow {
    static getAllWindows = () => [];
    webContents: Record<string, unknown>;
    constructor(options: Record<string, unknown>) {
      const entry: (typeof recorded.windows)[number] = { options };
      recorded.windows.push(entry);
      this.webContents = {
        setWindowOpenHandler: (fn: (d: { url: string }) => unknown) => (entry.openHandler = fn),
        on: (name: string, fn: (e: { preventDefault(): void }, url: string) => void) => {
          if (name === 'will-navigate') entry.navigate = fn;
        },
        send: () => {},
      };
      Object.assign(this, { loadFile: async (f: string) => void (entry.loaded = f) });
    }
  }
  return {
    app: {
      whenReady: () => Promise.resolve(),
      getPath: () => dataDir,
      getVersion: () => '1.2.3',
      on: (name: string, fn: (event: { preventDefault(): void }) => void) => recorded.appEvents.set(name, fn),
      quit: () => void recorded.quits++,
    },
    BrowserWindow,
    ipcMain: { handle: (name: string, fn: (event: unknown, input: unknown) => Promise<unknown>) => recorded.handlers.set(name, fn) },
    session: { defaultSession: { setPermissionRequestHandler: (fn: typeof recorded.permission) => (recorded.permission = fn) } },
    shell: { openExternal: async (url: string) => void recorded.opened.push(url) },
    safeStorage: { isEncryptionAvailable: () => true, getSelectedStorageBackend: () => 'gnome_libsecret', encryptString: (s: string) => Buffer.from(s), decryptString: (b: Buffer) => b.toString() },
  };
});

const { channels } = await import('../../shared/contract.js');
await import('../../electron/main.js');
await new Promise((r) => setTimeout(r, 10));

afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

describe('Electron main process wiring', () => {
  it('opens one window with the secure options and our preload', () => {
    expect(recorded.windows).toHaveLength(1);
    const prefs = recorded.windows[0]?.options.webPreferences as Record<string, unknown>;
    expect(prefs).toMatchObject({ contextIsolation: true, sandbox: true, nodeIntegration: false, webSecurity: true });
    expect(String(prefs.preload)).toMatch(/preload\.cjs$/);
    expect(recorded.windows[0]?.loaded).toMatch(/renderer[/\\]index\.html$/);
  });

  it('denies new windows (https links go to the system browser) and navigation away', () => {
    const w = recorded.windows[0];
    expect(w?.openHandler?.({ url: 'https://example.org/' })).toEqual({ action: 'deny' });
    expect(w?.openHandler?.({ url: 'file:///etc/passwd' })).toEqual({ action: 'deny' });
    expect(recorded.opened).toEqual(['https://example.org/']);
    let prevented = false;
    w?.navigate?.({ preventDefault: () => (prevented = true) }, 'https://evil.example/');
    expect(prevented).toBe(true);
  });

  it('denies every permission request', () => {
    let answer: boolean | null = null;
    recorded.permission?.({}, 'media', (ok) => (answer = ok));
    expect(answer).toBe(false);
  });

  it('registers every contract channel with sender check and validation', async () => {
    expect([...recorded.handlers.keys()].sort()).toEqual(Object.keys(channels).sort());
    const page = join(String(recorded.windows[0]?.loaded ?? ''));
    const trusted = { senderFrame: { url: `file://${page}` } };
    expect(await recorded.handlers.get('app:info')?.(trusted, undefined)).toMatchObject({ ok: true, value: { name: 'Shear', version: '1.2.3' } });
    expect(await recorded.handlers.get('app:info')?.({ senderFrame: { url: 'https://evil.example/' } }, undefined)).toMatchObject({ ok: false });
    expect(await recorded.handlers.get('hosts:remove')?.(trusted, { id: 42 })).toMatchObject({ ok: false, error: { name: 'ValidationError' } });
    expect(await recorded.handlers.get('hosts:list')?.(trusted, undefined)).toEqual({ ok: true, value: [] });
  });

  it('holds the quit until the service has cancelled its runs and closed, then quits', async () => {
    const beforeQuit = recorded.appEvents.get('before-quit');
    let prevented = 0;
    beforeQuit?.({ preventDefault: () => void prevented++ });
    expect(prevented).toBe(1);
    // Closing the service (no runs here) settles within a few ticks; then the quit goes ahead once.
    for (let i = 0; i < 50 && recorded.quits === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(recorded.quits).toBe(1);
    beforeQuit?.({ preventDefault: () => void prevented++ });
    expect(prevented).toBe(1);
  });
});
