import type { IpcMainInvokeEvent } from 'electron';
import { ipcMain } from 'electron';
import type { ChannelName, Envelope, RequestOf, ResponseOf } from '../shared/contract.js';
import { channels } from '../shared/contract.js';

export type Handlers = { [C in ChannelName]: (request: RequestOf<C>) => Promise<ResponseOf<C>> };

/**
 * Registers every contract channel: only our own window may call, every request
 * is validated, and errors travel back as an envelope the preload re-throws.
 */
export function registerIpc(handlers: Handlers, isTrustedSender: (event: IpcMainInvokeEvent) => boolean): void {
  for (const name of Object.keys(channels) as ChannelName[]) {
    ipcMain.handle(name, async (event, input: unknown): Promise<Envelope<unknown>> => {
      try {
        if (!isTrustedSender(event)) throw new Error(`refused ${name}: the call did not come from Shear's window`);
        const request = channels[name].validate(input);
        return { ok: true, value: await handlers[name](request) };
      } catch (err) {
        const e = err instanceof Error ? err : new Error(String(err));
        return { ok: false, error: { name: e.name, message: e.message } };
      }
    });
  }
}
