import { createStore, type StoreApi } from 'zustand/vanilla';
import type { ShearApi } from '../../shared/contract';
import { errorText, toUiError } from './errors';
import { createArchivesSlice, type ArchivesSlice } from './archives';
import { createHistorySlice, type HistorySlice } from './history';
import { createHostKeySlice, type HostKeySlice } from './hostKey';
import { createHostsSlice, type HostsSlice } from './hosts';
import { createLeftoversSlice, type LeftoversSlice } from './leftovers';
import { createNavSlice, type NavSlice } from './nav';
import { createRunsSlice, type RunsSlice } from './runs';
import type { StoreDeps } from './types';
import { createWizardSlice, type WizardSlice } from './wizard';

export interface EventsSlice {
  /** Subscribes to every engine event once; returns the unsubscribe. */
  subscribeEvents(): () => void;
  /** What the app loads when it opens. */
  loadInitial(): Promise<void>;
}

export type AppState = NavSlice & HostsSlice & HostKeySlice & WizardSlice & RunsSlice & LeftoversSlice & HistorySlice & ArchivesSlice & EventsSlice;
export type AppStore = StoreApi<AppState>;

/**
 * The app's one store. The API comes in from outside (the real `shearApi`
 * in the app, a fake in tests): components never talk to it, only actions do.
 */
export function createAppStore(api: ShearApi | (() => ShearApi)): AppStore {
  const getApi = typeof api === 'function' ? api : () => api;
  return createStore<AppState>()((set, get) => {
    const deps: StoreDeps = {
      api: getApi,
      fail: (err) => {
        const e = toUiError(err);
        if (e.kind === 'host-key-changed') get().raiseHostKeyChanged(e.message);
        return errorText(err);
      },
    };
    return {
      ...createNavSlice(set, get, deps),
      ...createHostsSlice(set, get, deps),
      ...createHostKeySlice(set, get, deps),
      ...createWizardSlice(set, get, deps),
      ...createRunsSlice(set, get, deps),
      ...createLeftoversSlice(set, get, deps),
      ...createHistorySlice(set, get, deps),
      ...createArchivesSlice(set, get, deps),
      subscribeEvents: () => {
        const offRuns = getApi().on('runs:update', (updates) => get().applyRunUpdates(updates));
        const offPrompt = getApi().on('hostkey:prompt', (prompt) => get().receiveHostKeyPrompt(prompt));
        const offResolved = getApi().on('hostkey:resolved', ({ promptId }) => get().dropHostKeyPrompt(promptId));
        // Updates missed while the connection was down: read the runs, open questions (and a shown history) again.
        const offReconnected = getApi().on('api:reconnected', () => {
          void get().loadRuns();
          void get().loadHostKeyPrompts();
          if (get().history.entries !== null) void get().loadHistory();
        });
        return () => {
          offRuns();
          offPrompt();
          offResolved();
          offReconnected();
        };
      },
      loadInitial: async () => {
        await Promise.all([get().loadAppInfo(), get().loadHosts(), get().loadRuns(), get().loadHostKeyPrompts()]);
      },
    };
  });
}
