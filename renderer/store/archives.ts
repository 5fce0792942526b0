import type { Manifest } from '../../shared/model';
import type { SliceCreator } from './types';

/** The restore form for one archive (History → Restore…). */
export interface RestoreForm {
  hostId: string;
  archive: string;
  manifest: Manifest | null;
  loading: boolean;
  /** Devices to restore. */
  disks: string[];
  mode: 'new' | 'vm';
  /** New images: a storage spec (dir:/path, lvmthin:…, zfs:…, or a Proxmox storage id). */
  storage: string;
  /** Into a VM that is not running: its id or name, and the explicit yes. */
  vm: string;
  confirm: boolean;
  starting: boolean;
  error: string | null;
}

export interface ArchivesSlice {
  restoreForm: RestoreForm | null;
  /** Archive → error of its last Verify click (the run itself reports the verdict). */
  verifyErrors: Record<string, string>;
  verifyArchive(hostId: string, archive: string): Promise<void>;
  openRestore(hostId: string, archive: string): Promise<void>;
  editRestore(patch: Partial<Pick<RestoreForm, 'disks' | 'mode' | 'storage' | 'vm' | 'confirm'>>): void;
  closeRestore(): void;
  startRestore(): Promise<void>;
}

/** Why the form cannot start yet, in words; null when it can. */
export function restoreBlocker(f: RestoreForm): string | null {
  if (!f.manifest) return 'the archive is still being read';
  if (f.disks.length === 0) return 'choose at least one disk';
  if (f.mode === 'new' && f.storage.trim() === '') return 'name the storage for the new images';
  if (f.mode === 'vm' && f.vm.trim() === '') return 'name the VM to restore into';
  if (f.mode === 'vm' && !f.confirm) return "confirm that the VM's disks are overwritten";
  return null;
}

export const createArchivesSlice: SliceCreator<ArchivesSlice> = (set, get, { api, fail }) => ({
  restoreForm: null,
  verifyErrors: {},
  verifyArchive: async (hostId, archive) => {
    const { [archive]: _old, ...rest } = get().verifyErrors;
    set({ verifyErrors: rest });
    try {
      const { runId } = await api().invoke('archives:verify', { hostId, archive });
      get().openRun(runId);
    } catch (err) {
      set({ verifyErrors: { ...get().verifyErrors, [archive]: fail(err) } });
    }
  },
  openRestore: async (hostId, archive) => {
    set({ restoreForm: { hostId, archive, manifest: null, loading: true, disks: [], mode: 'new', storage: '', vm: '', confirm: false, starting: false, error: null } });
    try {
      const manifest = await api().invoke('archives:inspect', { hostId, archive });
      const f = get().restoreForm;
      if (f?.archive !== archive) return;
      set({ restoreForm: { ...f, manifest, loading: false, disks: manifest.disks.map((d) => d.device), vm: manifest.vm.id } });
    } catch (err) {
      const f = get().restoreForm;
      if (f?.archive === archive) set({ restoreForm: { ...f, loading: false, error: fail(err) } });
    }
  },
  editRestore: (patch) => {
    const f = get().restoreForm;
    // A yes given for one VM and set of disks is not a yes for another.
    const resetsYes = patch.vm !== undefined || patch.disks !== undefined || patch.mode !== undefined;
    if (f) set({ restoreForm: { ...f, ...(resetsYes ? { confirm: false } : {}), ...patch, error: null } });
  },
  closeRestore: () => set({ restoreForm: null }),
  startRestore: async () => {
    const f = get().restoreForm;
    if (!f || f.starting) return;
    const blocker = restoreBlocker(f);
    if (blocker) {
      set({ restoreForm: { ...f, error: `Cannot restore yet: ${blocker}.` } });
      return;
    }
    set({ restoreForm: { ...f, starting: true, error: null } });
    try {
      const target = f.mode === 'new' ? { kind: 'new' as const, storage: f.storage.trim() } : { kind: 'vm' as const, vm: f.vm.trim(), confirm: true as const };
      const { runId } = await api().invoke('archives:restore', { hostId: f.hostId, archive: f.archive, disks: f.disks, target });
      set({ restoreForm: null });
      get().openRun(runId);
    } catch (err) {
      const now = get().restoreForm;
      if (now) set({ restoreForm: { ...now, starting: false, error: fail(err) } });
    }
  },
});
