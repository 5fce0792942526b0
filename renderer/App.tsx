import { useEffect } from 'react';
import { create } from 'zustand';
import type { AppInfo } from '../shared/contract';
import { shearApi } from './api';

interface AppState {
  info: AppInfo | null;
  error: string | null;
  load(): Promise<void>;
}

const useAppStore = create<AppState>((set) => ({
  info: null,
  error: null,
  load: async () => {
    try {
      set({ info: await shearApi().app.info(), error: null });
    } catch (err) {
      set({ error: (err as Error).message });
    }
  },
}));

export function App() {
  const { info, error, load } = useAppStore();
  useEffect(() => {
    void load();
  }, [load]);
  return (
    <main>
      <h1>Shear</h1>
      <p>Point-in-time backups of running QEMU/KVM virtual machines, with backup fleecing.</p>
      {info && <p>Version {info.version} on {info.platform}</p>}
      {error && <p role="alert">{error}</p>}
    </main>
  );
}
