import { contextBridge, ipcRenderer } from 'electron';
import type { ChannelName, Envelope, ResponseOf, ShearApi } from '../shared/contract.js';

async function invoke<C extends ChannelName>(channel: C, request?: unknown): Promise<ResponseOf<C>> {
  const envelope = (await ipcRenderer.invoke(channel, request)) as Envelope<ResponseOf<C>>;
  if (envelope.ok) return envelope.value;
  const error = new Error(envelope.error.message);
  error.name = envelope.error.name;
  throw error;
}

const api: ShearApi = {
  app: { info: () => invoke('app:info') },
};

contextBridge.exposeInMainWorld('shear', api);
