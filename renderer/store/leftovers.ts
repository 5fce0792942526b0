import type { CleanupReport, Leftover, LeftoverClass } from '../../shared/model';
import { STORAGE_SPEC_HELP, STORAGE_SPEC_RE } from '../../shared/contract';
import type { SliceCreator } from './types';

export interface LeftoversData {
  hostId: string;
  /** Fleecing storages as typed: comma or newline separated specs. */
  storagesText: string;
  inputError: string | null;
  items: Leftover[] | null;
  /** What the shown items were scanned for: cleanup acts on exactly that. */
  scannedFor: { hostId: string; storages: string[] } | null;
  scanning: boolean;
  error: string | null;
  cleaning: boolean;
  report: CleanupReport | null;
  /** The unknown-origin item whose "Remove…" waits for "Confirm remove". */
  confirmingId: string | null;
}

export interface LeftoversSlice {
  leftovers: LeftoversData;
  setLeftoversHost(hostId: string): void;
  setLeftoversStorages(text: string): void;
  scanLeftovers(): Promise<void>;
  /** Removes every orphaned item of the last scan. */
  cleanOrphaned(): Promise<void>;
  askRemoveUnknown(id: string): void;
  cancelRemoveUnknown(): void;
  confirmRemoveUnknown(id: string): Promise<void>;
}

export function initialLeftovers(): LeftoversData {
  return { hostId: '', storagesText: '', inputError: null, items: null, scannedFor: null, scanning: false, error: null, cleaning: false, report: null, confirmingId: null };
}

// ---------- pure ----------

/** Splits the storages input on commas and newlines; names the first bad spec. */
export function parseStorageList(text: string): { storages: string[]; error: string | null } {
  const storages = [...new Set(text.split(/[,\n]/).map((s) => s.trim()).filter(Boolean))];
  const bad = storages.find((s) => !STORAGE_SPEC_RE.test(s));
  return { storages, error: bad ? `"${bad}" is not a storage: use ${STORAGE_SPEC_HELP}.` : null };
}

export const LEFTOVER_CLASSES: ReadonlyArray<{ id: LeftoverClass; title: string; help: string }> = [
  { id: 'orphaned', title: 'Orphaned', help: 'Recorded by a run that is gone: safe to remove with "Clean up".' },
  { id: 'unknown', title: 'Unknown origin', help: 'Named like Shear\'s but no journal knows them: removed only one by one, when you confirm.' },
  { id: 'in-use', title: 'In use', help: 'A live run or a running QEMU holds them: never touched.' },
];

export function groupLeftovers(items: Leftover[]): Record<LeftoverClass, Leftover[]> {
  const groups: Record<LeftoverClass, Leftover[]> = { 'in-use': [], orphaned: [], unknown: [] };
  for (const item of items) groups[item.class].push(item);
  // Urgent first: a filter still under a device costs the guest on every write.
  for (const list of Object.values(groups)) list.sort((a, b) => Number(b.urgent) - Number(a.urgent));
  return groups;
}

export function orphanedIds(items: Leftover[]): string[] {
  return items.filter((i) => i.class === 'orphaned').map((i) => i.id);
}

// ---------- slice ----------

export const createLeftoversSlice: SliceCreator<LeftoversSlice> = (set, get, { api, fail }) => {
  const patch = (p: Partial<LeftoversData>) => set({ leftovers: { ...get().leftovers, ...p } });

  const clean = async (ids: string[], includeUnknown: string[]) => {
    const scanned = get().leftovers.scannedFor;
    if (!scanned) return;
    patch({ cleaning: true, error: null, report: null, confirmingId: null });
    try {
      const report = await api().invoke('leftovers:clean', { hostId: scanned.hostId, storages: scanned.storages, ids, includeUnknown });
      patch({ cleaning: false, report });
    } catch (err) {
      patch({ cleaning: false, error: fail(err) });
      return;
    }
    await get().scanLeftovers();
  };

  return {
    leftovers: initialLeftovers(),
    setLeftoversHost: (hostId) => patch({ hostId, inputError: null }),
    setLeftoversStorages: (storagesText) => patch({ storagesText, inputError: null }),
    scanLeftovers: async () => {
      const l = get().leftovers;
      if (!l.hostId) {
        patch({ inputError: 'Choose a host to scan.' });
        return;
      }
      const { storages, error } = parseStorageList(l.storagesText);
      if (error) {
        patch({ inputError: error });
        return;
      }
      patch({ scanning: true, error: null, inputError: null, confirmingId: null });
      try {
        const items = await api().invoke('leftovers:scan', { hostId: l.hostId, storages });
        patch({ items, scannedFor: { hostId: l.hostId, storages }, scanning: false });
      } catch (err) {
        patch({ scanning: false, error: fail(err) });
      }
    },
    cleanOrphaned: async () => {
      const ids = orphanedIds(get().leftovers.items ?? []);
      if (ids.length === 0) return;
      await clean(ids, []);
    },
    askRemoveUnknown: (id) => patch({ confirmingId: id }),
    cancelRemoveUnknown: () => patch({ confirmingId: null }),
    confirmRemoveUnknown: async (id) => {
      if (get().leftovers.confirmingId !== id) return;
      await clean([id], [id]);
    },
  };
};
