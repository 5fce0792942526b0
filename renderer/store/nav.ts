import type { AppInfo } from '../../shared/contract';
import type { SliceCreator } from './types';

export type Screen = 'hosts' | 'backup' | 'runs' | 'run' | 'leftovers' | 'history';

export interface NavSlice {
  screen: Screen;
  /** The run the Run screen shows. */
  currentRunId: string | null;
  appInfo: AppInfo | null;
  /** A problem no single screen owns (e.g. answering a host key prompt failed). */
  notice: string | null;
  navigate(screen: Screen): void;
  openRun(runId: string): void;
  loadAppInfo(): Promise<void>;
  dismissNotice(): void;
}

export const createNavSlice: SliceCreator<NavSlice> = (set, _get, { api, fail }) => ({
  screen: 'hosts',
  currentRunId: null,
  appInfo: null,
  notice: null,
  navigate: (screen) => set({ screen }),
  openRun: (runId) => set({ screen: 'run', currentRunId: runId }),
  loadAppInfo: async () => {
    try {
      set({ appInfo: await api().invoke('app:info', undefined) });
    } catch (err) {
      set({ notice: fail(err) });
    }
  },
  dismissNotice: () => set({ notice: null }),
});
