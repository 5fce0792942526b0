import type { ShearApi } from '../shared/contract';

declare global {
  interface Window {
    shear?: ShearApi;
  }
}

/** The typed API: window.shear inside Electron. */
export function shearApi(): ShearApi {
  if (!window.shear) throw new Error('Shear API not available: open this page from the Shear app');
  return window.shear;
}
