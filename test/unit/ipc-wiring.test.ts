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
const calls: Array<[string, unknown]> = [];

describe('IPC registration', () => {
  registerIpc(
    { handle: async (name: string, request: unknown) => (calls.push([name, request]), { echoed: name }) } as never,
    (event) => (event as typeof trusted).senderFrame.url === trusted.senderFrame.url,
  );

  it('registers every contract channel', () => {
    expect([...handlers.keys()].sort()).toEqual(Object.keys(channels).sort());
  });

  it('answers a trusted, valid call with an ok envelope carrying the parsed request', async () => {
    expect(await handlers.get('hosts:remove')?.(trusted, { id: 'h1' })).toEqual({ ok: true, value: { echoed: 'hosts:remove' } });
    expect(calls.at(-1)).toEqual(['hosts:remove', { id: 'h1' }]);
  });

  it('refuses calls from other frames and malformed requests, without calling the handler', async () => {
    const before = calls.length;
    expect(await handlers.get('app:info')?.(stranger, undefined)).toMatchObject({
      ok: false,
      error: { message: expect.stringMatching(/did not come from Shear's window/) },
    });
    expect(await handlers.get('hosts:save')?.(trusted, { host: { name: '', address: 'a b', port: 0, user: 'root', auth: { kind: 'agent' } } })).toMatchObject({
      ok: false,
      error: { name: 'ValidationError', message: expect.stringMatching(/hosts:save: invalid request: host\.name: name is required; host\.address: .*; host\.port/) },
    });
    expect(await handlers.get('backup:start')?.(trusted, { hostId: 'h', vmIds: [], fleecing: null, target: 'relative/path' })).toMatchObject({
      ok: false,
      error: { message: expect.stringMatching(/vmIds: choose at least one VM; target: target must be dir:\/absolute\/path/) },
    });
    expect(calls.length).toBe(before);
  });
});
