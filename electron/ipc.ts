import type { IpcMainInvokeEvent } from 'electron';
import { ipcMain } from 'electron';
import type { ShearService } from './engine/api.js';
import { channels, validateRequest, type ChannelName, type Envelope } from '../shared/contract.js';
import { toWireError } from './engine/wire-error.js';

/**
 * Registers every contract channel: only our own window may call, every request
 * is validated against its schema, and errors travel back as an envelope the
 * preload turns into a typed error. The handlers are the service's own methods:
 * browser mode calls the very same ones.
 */
export function registerIpc(service: Pick<ShearService, 'handle'>, isTrustedSender: (event: IpcMainInvokeEvent) => boolean): void {
  for (const name of Object.keys(channels) as ChannelName[]) {
    ipcMain.handle(name, async (event, input: unknown): Promise<Envelope<unknown>> => {
      try {
        if (!isTrustedSender(event)) throw new Error(`refused ${name}: the call did not come from Shear's window`);
        return { ok: true, value: await service.handle(name, validateRequest(name, input)) };
      } catch (err) {
        return { ok: false, error: toWireError(err) };
      }
    });
  }
}
