import type { HistoryEntry } from '../../shared/contract';
import type { SliceCreator } from './types';

export interface HistoryData {
  entries: HistoryEntry[] | null;
  loading: boolean;
  error: string | null;
}

export interface HistorySlice {
  history: HistoryData;
  loadHistory(): Promise<void>;
}

/** Newest first. */
export function sortHistory(entries: HistoryEntry[]): HistoryEntry[] {
  return [...entries].sort((a, b) => b.startedAt - a.startedAt);
}

export const createHistorySlice: SliceCreator<HistorySlice> = (set, get, { api, fail }) => ({
  history: { entries: null, loading: false, error: null },
  loadHistory: async () => {
    set({ history: { ...get().history, loading: true, error: null } });
    try {
      const entries = sortHistory(await api().invoke('history:list', undefined));
      set({ history: { entries, loading: false, error: null } });
    } catch (err) {
      set({ history: { ...get().history, loading: false, error: fail(err) } });
    }
  },
});
