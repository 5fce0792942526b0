import { describe, expect, it, vi } from 'vitest';

/**
 * A minimal stand-in for the `electron` module (the Electron binary cannot run
 * here): ipcMain.handle records handlers so the test can call them as Electron would.
 */
const handlers = new Map<string, (event: unknown, input: unknown) => Promise<unknown>>();
vi.mock('electron', () => ({
  ipcMain: {
    handle: (channel: string, fn: (event: unknown, input: unknown) => Promise<unknown>) => handlers.set(channel, fn),
  },
}));

const { registerIpc } = await import('../../electron/ipc.js');
const { channels } = await import('../../shared/contract.js');

const trusted = { senderFrame: { url: 'file:///app/renderer/index.html' } };
const stranger = { senderFrame: { url: 'https://evil.example/' } };

describe('IPC registration', () => {
  registerIpc(
    { 'app:info': async () => ({ name: 'Shear', version: '9.9.9', platform: 'linux' }) },
    (event) => (event as typeof trusted).senderFrame.url === trusted.senderFrame.url,
  );

  it('registers every contract channel', () => {
    expect([...handlers.keys()].sort()).toEqual(Object.keys(channels).sort());
  });

  it('answers a trusted, valid call with an ok envelope', async () => {
    expect(await handlers.get('app:info')?.(trusted, undefined)).toEqual({
      ok: true,
      value: { name: 'Shear', version: '9.9.9', platform: 'linux' },
    });
  });

  it('refuses calls from other frames and invalid input, as error envelopes', async () => {
    expect(await handlers.get('app:info')?.(stranger, undefined)).toMatchObject({
      ok: false,
      error: { message: expect.stringMatching(/did not come from Shear's window/) },
    });
    expect(await handlers.get('app:info')?.(trusted, { sneaky: true })).toMatchObject({
      ok: false,
      error: { message: 'this call takes no arguments' },
    });
  });
});
