import { contextBridge, ipcRenderer } from 'electron';
import { eventNames, faceEventNames, type Envelope, type EventMap, type EventName, type ShearBridge } from '../shared/contract.js';

// The renderer gets exactly this object: invoke a contract channel (answered with an
// envelope: contextBridge would strip a thrown error's kind), or listen to a contract event.
const api: ShearBridge = {
  invoke: async (channel, request) => (await ipcRenderer.invoke(channel, request)) as Envelope<never>,
  on: <E extends EventName>(event: E, listener: (payload: EventMap[E]) => void) => {
    // Electron's IPC never loses the engine, so a reconnect is never said here: nothing to listen to.
    if (faceEventNames.includes(event)) return () => {};
    if (!eventNames.includes(event)) throw new Error(`unknown event ${event}`);
    const wrapped = (_e: unknown, payload: EventMap[E]) => listener(payload);
    ipcRenderer.on(event, wrapped);
    return () => void ipcRenderer.off(event, wrapped);
  },
};

contextBridge.exposeInMainWorld('shear', api);
