import { apiFromBridge, type ShearApi, type ShearBridge } from '../shared/contract';
import { connectWebSocketApi } from './ws-api';

declare global {
  interface Window {
    shear?: ShearBridge;
  }
}

let api: ShearApi | null = null;

/** The typed API: window.shear inside Electron, the WebSocket client in browser mode. */
export function shearApi(): ShearApi {
  api ??= window.shear ? apiFromBridge(window.shear) : connectWebSocketApi(window.location);
  return api;
}
