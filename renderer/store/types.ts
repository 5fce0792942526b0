import type { StoreApi } from 'zustand/vanilla';
import type { ShearApi } from '../../shared/contract';
import type { AppState } from './index';

/** What every slice's actions get besides set/get: the API and the shared error path. */
export interface StoreDeps {
  /** The ONLY way to the engine side; tests inject a fake. */
  api: () => ShearApi;
  /** Turns a failure into text for the screen; a changed host key also raises the blocking screen. */
  fail: (err: unknown) => string;
}

export type SetState = StoreApi<AppState>['setState'];
export type GetState = StoreApi<AppState>['getState'];
export type SliceCreator<T> = (set: SetState, get: GetState, deps: StoreDeps) => T;
