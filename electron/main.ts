import { app, BrowserWindow, session, shell } from 'electron';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { eventNames } from '../shared/contract.js';
import { ShearService } from './engine/api.js';
import { SettingsStore } from './engine/app/settings-store.js';
import { registerIpc } from './ipc.js';
import { SafeStorageSecrets } from './secrets.js';

const here = dirname(fileURLToPath(import.meta.url));
const rendererIndex = join(here, '..', 'renderer', 'index.html');
const rendererUrl = pathToFileURL(rendererIndex).href;

/** The secure window options; exported so the wiring test can check them. */
export const windowOptions = {
  width: 1200,
  height: 800,
  title: 'Shear',
  webPreferences: {
    preload: join(here, 'preload.cjs'),
    contextIsolation: true,
    sandbox: true,
    nodeIntegration: false,
    webSecurity: true,
  },
} as const;

function createWindow(): BrowserWindow {
  const win = new BrowserWindow(windowOptions);
  // The window shows only our own bundled page: no pop-ups, no navigation away.
  win.webContents.setWindowOpenHandler(({ url }) => {
    if (url.startsWith('https://')) void shell.openExternal(url);
    return { action: 'deny' };
  });
  win.webContents.on('will-navigate', (event, url) => {
    if (url !== rendererUrl) event.preventDefault();
  });
  void win.loadFile(rendererIndex);
  return win;
}

export function start(): void {
  void app.whenReady().then(() => {
    session.defaultSession.setPermissionRequestHandler((_wc, _permission, callback) => callback(false));
    const dataDir = app.getPath('userData');
    const settings = new SettingsStore(dataDir);
    const service = new ShearService({
      dataDir,
      version: app.getVersion(),
      settings,
      // basic_text is refused unless the user agreed to it (Hosts → secret storage).
      secrets: new SafeStorageSecrets(dataDir, () => settings.current.allowBasicTextSecrets),
    });
    registerIpc(service, (event) => event.senderFrame?.url === rendererUrl);
    service.subscribe((event, payload) => {
      if (!eventNames.includes(event)) return;
      for (const win of BrowserWindow.getAllWindows()) win.webContents.send(event, payload);
    });
    createWindow();
    app.on('activate', () => {
      if (BrowserWindow.getAllWindows().length === 0) createWindow();
    });
    // Quitting mid-backup must not leave filters in the guest: the quit waits until every run
    // is cancelled and torn down (ShearService.close), then goes ahead.
    let closed = false;
    app.on('before-quit', (event: { preventDefault(): void }) => {
      if (closed) return;
      event.preventDefault();
      void service.close().finally(() => {
        closed = true;
        app.quit();
      });
    });
  });

  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit();
  });
}

start();
