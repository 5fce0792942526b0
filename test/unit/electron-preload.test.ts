import { describe, expect, it, vi } from 'vitest';
import type { ShearApi, ShearBridge } from '../../shared/contract.js';

/**
 * The preload with a minimal stand-in for the `electron` module (the Electron binary cannot
 * run here): what it hands the renderer, and how that answers every event the renderer
 * listens to. The real store subscribes to all of them at start; one throw blanks the window.
 */
const exposed: { bridge: ShearBridge | null; ipcOn: string[] } = { bridge: null, ipcOn: [] };

vi.mock('electron', () => ({
  contextBridge: { exposeInMainWorld: (_key: string, api: ShearBridge) => void (exposed.bridge = api) },
  ipcRenderer: { invoke: async () => ({ ok: true, value: null }), on: (event: string) => void exposed.ipcOn.push(event), off: () => {} },
}));

await import('../../electron/preload.js');

describe('Electron preload', () => {
  it('listens to every event the renderer subscribes to without throwing; refuses unknown ones', async () => {
    // The renderer's store is built for the browser (bundler resolution): loaded by path, typed here.
    const storeModule = '../../renderer/store/index';
    const { createAppStore } = (await import(/* @vite-ignore */ storeModule)) as {
      createAppStore: (api: ShearApi) => { getState(): { subscribeEvents(): () => void } };
    };
    const { apiFromBridge } = await import('../../shared/contract.js');
    const bridge = exposed.bridge as ShearBridge;
    // The app's own subscriptions, as App does on mount.
    const off = createAppStore(apiFromBridge(bridge)).getState().subscribeEvents();
    expect(exposed.ipcOn.sort()).toEqual(['hostkey:prompt', 'hostkey:resolved', 'runs:update']);
    off();
    expect(() => bridge.on('no-such-event' as never, () => {})).toThrow(/unknown event no-such-event/);
  });
});
