import type { BackupPlanPreview, BackupRequest, StorageInfo } from '../../shared/contract';
import type { ImageFormat, VmDetails } from '../../shared/model';
import type { SliceCreator } from './types';

export type WizardStep = 'host' | 'vms' | 'fleecing' | 'target' | 'review';
export const WIZARD_STEPS: ReadonlyArray<{ id: WizardStep; label: string }> = [
  { id: 'host', label: 'Host' },
  { id: 'vms', label: 'VMs' },
  { id: 'fleecing', label: 'Fleecing' },
  { id: 'target', label: 'Target' },
  { id: 'review', label: 'Review' },
];

export type FormatChoice = 'auto' | ImageFormat;
export type WizardField = 'host' | 'vms' | 'storage' | 'format' | 'target' | 'bwlimit';
export type WizardErrors = Partial<Record<WizardField, string>>;

export interface WizardData {
  step: WizardStep;
  hostId: string;
  vms: VmDetails[] | null;
  /** The host `vms` was loaded from. */
  vmsHostId: string | null;
  vmsLoading: boolean;
  vmsError: string | null;
  selectedVmIds: string[];
  useFleecing: boolean;
  storageSpec: string;
  /** The result of "Check" … */
  storage: StorageInfo | null;
  /** … and the (trimmed) input it was checked for: editing the input un-checks it. */
  storageCheckedSpec: string | null;
  storageChecking: boolean;
  storageError: string | null;
  format: FormatChoice;
  target: string;
  /** MiB/s as typed; empty = unlimited. */
  bwlimit: string;
  plan: BackupPlanPreview | null;
  planLoading: boolean;
  planError: string | null;
  starting: boolean;
  startError: string | null;
  /** Inline errors of the rules below, shown next to their fields. */
  errors: WizardErrors;
}

export interface WizardSlice {
  wizard: WizardData;
  setWizardHost(hostId: string): void;
  toggleVm(vmId: string, selected: boolean): void;
  setUseFleecing(on: boolean): void;
  setStorageSpec(spec: string): void;
  checkStorage(): Promise<void>;
  setFormat(format: FormatChoice): void;
  setTarget(target: string): void;
  setBwlimit(text: string): void;
  /** Validates the current step; advances only when it is valid. */
  wizardNext(): void;
  wizardBack(): void;
  /** Jumps back to an earlier step (the step indicator). */
  wizardGoTo(step: WizardStep): void;
  loadVms(): Promise<void>;
  loadPlan(): Promise<void>;
  /** Validates everything, calls backup:start and opens the Run screen. */
  startBackup(): Promise<void>;
}

export const DEFAULT_FLEECING_STORAGE = 'dir:/var/lib/shear-fleece';

export function initialWizard(): WizardData {
  return {
    step: 'host',
    hostId: '',
    vms: null,
    vmsHostId: null,
    vmsLoading: false,
    vmsError: null,
    selectedVmIds: [],
    useFleecing: true,
    storageSpec: DEFAULT_FLEECING_STORAGE,
    storage: null,
    storageCheckedSpec: null,
    storageChecking: false,
    storageError: null,
    format: 'auto',
    target: '',
    bwlimit: '',
    plan: null,
    planLoading: false,
    planError: null,
    starting: false,
    startError: null,
    errors: {},
  };
}

// ---------- rules (pure) ----------

// A Proxmox host also takes its own storage ids (local-lvm, ...).
const STORAGE_SPEC = /^(dir:\/|lvmthin:|zfs:|pve:|[A-Za-z][A-Za-z0-9\-_.]*$)/;

/** The storage the user checked, if the input still says the same. */
export function checkedStorage(w: Pick<WizardData, 'storage' | 'storageCheckedSpec' | 'storageSpec'>): StorageInfo | null {
  return w.storage && w.storageCheckedSpec === w.storageSpec.trim() ? w.storage : null;
}

/** `auto` always; `qcow2` / `raw` only when the checked storage supports them. */
export function formatChoices(storage: StorageInfo | null): FormatChoice[] {
  const supported = storage?.formats ?? [];
  return ['auto', ...(['qcow2', 'raw'] as const).filter((f) => supported.includes(f))];
}

export const HINT_FAST_THIN = 'Prefer fast local thin storage: a fleecing image only holds the old data of blocks the guest overwrites during the backup, and the guest waits for it on every such write.';
export const HINT_THICK = 'Thick storage reserves the full size of every image: the free space must cover every fleeced disk.';

/** The hints Proxmox gives for a fleecing storage. */
export function fleecingHints(storage: StorageInfo | null): string[] {
  return storage && !storage.thin ? [HINT_FAST_THIN, HINT_THICK] : [HINT_FAST_THIN];
}

/** Bytes of the data disks (the ones that get fleecing images) of the selected VMs. */
export function selectedFleecedBytes(w: Pick<WizardData, 'vms' | 'selectedVmIds'>): number {
  return (w.vms ?? [])
    .filter((vm) => w.selectedVmIds.includes(vm.id))
    .flatMap((vm) => vm.disks)
    .filter((d) => d.role === 'disk')
    .reduce((sum, d) => sum + d.sizeBytes, 0);
}

function parseBwlimit(text: string): number | null | 'invalid' {
  const t = text.trim();
  if (!t) return null;
  const n = Number(t);
  return Number.isFinite(n) && n > 0 && n <= 100_000 ? n : 'invalid';
}

/** The errors of one step; an empty object means the step is complete. */
export function validateWizardStep(w: WizardData, step: WizardStep): WizardErrors {
  const errors: WizardErrors = {};
  switch (step) {
    case 'host':
      if (!w.hostId) errors.host = 'Choose a host to back up.';
      break;
    case 'vms':
      if (w.selectedVmIds.length === 0) errors.vms = 'Select at least one VM.';
      break;
    case 'fleecing': {
      if (!w.useFleecing) break;
      const spec = w.storageSpec.trim();
      const storage = checkedStorage(w);
      if (!spec) errors.storage = 'Fleecing is on: enter a fleecing storage and press Check (or turn fleecing off).';
      else if (!STORAGE_SPEC.test(spec)) errors.storage = 'The fleecing storage must be dir:/path, lvmthin:VG/POOL, zfs:POOL/DATASET or a Proxmox storage id.';
      else if (!storage) errors.storage = 'Fleecing is on: press Check to verify the fleecing storage before going on.';
      if (storage && !formatChoices(storage).includes(w.format)) {
        errors.format = `${storage.spec} does not support ${w.format} images: choose ${formatChoices(storage).join(' or ')}.`;
      }
      break;
    }
    case 'target':
      if (!/^(dir:\/|[A-Za-z][A-Za-z0-9\-_.]*$)/.test(w.target.trim())) errors.target = 'The target must be dir:/absolute/path (for example dir:/mnt/backup) or a Proxmox backup storage id.';
      if (parseBwlimit(w.bwlimit) === 'invalid') errors.bwlimit = 'The bandwidth limit must be a positive number of MiB/s, or empty for no limit.';
      break;
    case 'review':
      break;
  }
  return errors;
}

/** Errors of every step up to and including `step`, and the first step that has one. */
export function validateWizardUpTo(w: WizardData, step: WizardStep): { errors: WizardErrors; firstInvalid: WizardStep | null } {
  let errors: WizardErrors = {};
  let firstInvalid: WizardStep | null = null;
  for (const s of WIZARD_STEPS) {
    const e = validateWizardStep(w, s.id);
    if (Object.keys(e).length > 0) {
      errors = { ...errors, ...e };
      firstInvalid ??= s.id;
    }
    if (s.id === step) break;
  }
  return { errors, firstInvalid };
}

export function stepIndex(step: WizardStep): number {
  return WIZARD_STEPS.findIndex((s) => s.id === step);
}

/** The request backup:plan and backup:start get. */
export function buildBackupRequest(w: WizardData): BackupRequest {
  const bw = parseBwlimit(w.bwlimit);
  return {
    hostId: w.hostId,
    vmIds: [...w.selectedVmIds],
    fleecing: w.useFleecing ? { storage: w.storageSpec.trim(), format: w.format } : null,
    target: w.target.trim(),
    ...(typeof bw === 'number' ? { bwlimitMiB: bw } : {}),
  };
}

/** The exact names of the fleecing images the plan will create, in plan order. */
export function plannedImageNames(plan: BackupPlanPreview | null): string[] {
  return plan ? plan.images.map((i) => i.name) : [];
}

/** Drops errors of the given fields (an edit clears its own error). */
function without(errors: WizardErrors, ...fields: WizardField[]): WizardErrors {
  const next = { ...errors };
  for (const f of fields) delete next[f];
  return next;
}

// ---------- slice ----------

export const createWizardSlice: SliceCreator<WizardSlice> = (set, get, { api, fail }) => {
  const patch = (p: Partial<WizardData>) => set({ wizard: { ...get().wizard, ...p } });

  const enter = (step: WizardStep) => {
    patch({ step, errors: {} });
    const w = get().wizard;
    if (step === 'vms' && (w.vmsHostId !== w.hostId || w.vms === null) && !w.vmsLoading) void get().loadVms();
    if (step === 'review') void get().loadPlan();
  };

  return {
    wizard: initialWizard(),
    setWizardHost: (hostId) => {
      const w = get().wizard;
      if (hostId === w.hostId) return;
      // Another host: its VMs and storages are different.
      patch({ hostId, vms: null, vmsHostId: null, vmsError: null, selectedVmIds: [], storage: null, storageCheckedSpec: null, storageError: null, plan: null, errors: without(w.errors, 'host') });
    },
    toggleVm: (vmId, selected) => {
      const w = get().wizard;
      const ids = w.selectedVmIds.filter((id) => id !== vmId);
      patch({ selectedVmIds: selected ? [...ids, vmId] : ids, plan: null, errors: without(w.errors, 'vms') });
    },
    setUseFleecing: (on) => patch({ useFleecing: on, plan: null, errors: without(get().wizard.errors, 'storage', 'format') }),
    setStorageSpec: (spec) => patch({ storageSpec: spec, storageError: null, plan: null, errors: without(get().wizard.errors, 'storage', 'format') }),
    checkStorage: async () => {
      const w = get().wizard;
      const spec = w.storageSpec.trim();
      if (!STORAGE_SPEC.test(spec)) {
        patch({ storageError: 'The fleecing storage must be dir:/path, lvmthin:VG/POOL, zfs:POOL/DATASET or a Proxmox storage id.', storage: null, storageCheckedSpec: null });
        return;
      }
      if (!w.hostId) {
        patch({ storageError: 'Choose a host first.' });
        return;
      }
      patch({ storageChecking: true, storageError: null });
      try {
        const storage = await api().invoke('storages:describe', { hostId: w.hostId, spec });
        const now = get().wizard;
        if (now.storageSpec.trim() !== spec || now.hostId !== w.hostId) {
          patch({ storageChecking: false });
          return; // the input changed meanwhile: this answer is for something else
        }
        const format = formatChoices(storage).includes(now.format) ? now.format : 'auto';
        patch({ storage, storageCheckedSpec: spec, storageChecking: false, format, errors: without(now.errors, 'storage', 'format') });
      } catch (err) {
        patch({ storage: null, storageCheckedSpec: null, storageChecking: false, storageError: fail(err) });
      }
    },
    setFormat: (format) => patch({ format, plan: null, errors: without(get().wizard.errors, 'format') }),
    setTarget: (target) => patch({ target, plan: null, errors: without(get().wizard.errors, 'target') }),
    setBwlimit: (bwlimit) => patch({ bwlimit, plan: null, errors: without(get().wizard.errors, 'bwlimit') }),
    wizardNext: () => {
      const w = get().wizard;
      const errors = validateWizardStep(w, w.step);
      if (Object.keys(errors).length > 0) {
        patch({ errors });
        return;
      }
      const next = WIZARD_STEPS[stepIndex(w.step) + 1];
      if (next) enter(next.id);
    },
    wizardBack: () => {
      const prev = WIZARD_STEPS[stepIndex(get().wizard.step) - 1];
      if (prev) enter(prev.id);
    },
    wizardGoTo: (step) => {
      if (stepIndex(step) < stepIndex(get().wizard.step)) enter(step);
    },
    loadVms: async () => {
      const hostId = get().wizard.hostId;
      if (!hostId) return;
      patch({ vmsLoading: true, vmsError: null });
      try {
        const vms = await api().invoke('vms:list', { hostId });
        if (get().wizard.hostId !== hostId) return;
        const present = new Set(vms.map((v) => v.id));
        patch({ vms, vmsHostId: hostId, vmsLoading: false, selectedVmIds: get().wizard.selectedVmIds.filter((id) => present.has(id)) });
      } catch (err) {
        if (get().wizard.hostId === hostId) patch({ vmsLoading: false, vmsError: fail(err) });
      }
    },
    loadPlan: async () => {
      const w = get().wizard;
      const { errors } = validateWizardUpTo(w, 'target');
      if (Object.keys(errors).length > 0) {
        patch({ errors, plan: null });
        return;
      }
      const request = buildBackupRequest(w);
      patch({ planLoading: true, planError: null, plan: null });
      // A reply to choices the user has changed since (a slow plan, then Back and another storage) is dropped.
      const current = () => JSON.stringify(buildBackupRequest(get().wizard)) === JSON.stringify(request);
      try {
        const plan = await api().invoke('backup:plan', request);
        if (current()) patch({ plan, planLoading: false });
      } catch (err) {
        if (current()) patch({ planLoading: false, planError: fail(err) });
      }
    },
    startBackup: async () => {
      const w = get().wizard;
      if (w.starting) return;
      const { errors } = validateWizardUpTo(w, 'review');
      if (Object.keys(errors).length > 0) {
        patch({ errors });
        return;
      }
      patch({ starting: true, startError: null });
      try {
        const { runId } = await api().invoke('backup:start', buildBackupRequest(w));
        // Keep the choices for the next backup, but never leave "Start backup" one click away.
        patch({ starting: false, step: 'host', plan: null, errors: {} });
        get().openRun(runId);
        void get().loadRuns();
      } catch (err) {
        patch({ starting: false, startError: fail(err) });
      }
    },
  };
};
