import { describe, expect, it } from 'vitest';
import { createAppStore } from '../../renderer/store/index';
import {
  HINT_FAST_THIN,
  HINT_THICK,
  buildBackupRequest,
  checkedStorage,
  fleecingHints,
  formatChoices,
  initialWizard,
  plannedImageNames,
  validateWizardStep,
  validateWizardUpTo,
  type WizardData,
} from '../../renderer/store/wizard';
import { DIR_STORAGE, HOST, HOST2, LVMTHIN_STORAGE, PLAN, THICK_STORAGE, VMS, fakeApi } from './fake-api';

const wizard = (over: Partial<WizardData> = {}): WizardData => ({ ...initialWizard(), hostId: 'h1', selectedVmIds: ['web'], ...over });

describe('wizard rules (pure)', () => {
  it('needs a host and at least one VM', () => {
    expect(validateWizardStep(wizard({ hostId: '' }), 'host').host).toMatch(/choose a host/i);
    expect(validateWizardStep(wizard({ selectedVmIds: [] }), 'vms').vms).toBe('Select at least one VM.');
    expect(validateWizardStep(wizard(), 'vms')).toEqual({});
  });

  it('requires a fleecing storage when fleecing is on', () => {
    expect(validateWizardStep(wizard({ storageSpec: '' }), 'fleecing').storage).toMatch(/enter a fleecing storage/i);
    expect(validateWizardStep(wizard({ storageSpec: 'nfs:/x' }), 'fleecing').storage).toMatch(/must be dir:\/path/);
  });

  it('requires the storage to have been checked, for exactly what the input says now', () => {
    const unchecked = wizard({ storageSpec: 'dir:/var/lib/shear-fleece' });
    expect(validateWizardStep(unchecked, 'fleecing').storage).toMatch(/press Check/);
    const checked = wizard({ storageSpec: 'dir:/var/lib/shear-fleece', storage: DIR_STORAGE, storageCheckedSpec: 'dir:/var/lib/shear-fleece' });
    expect(validateWizardStep(checked, 'fleecing')).toEqual({});
    const edited = { ...checked, storageSpec: 'dir:/elsewhere' };
    expect(checkedStorage(edited)).toBeNull();
    expect(validateWizardStep(edited, 'fleecing').storage).toMatch(/press Check/);
  });

  it('needs no storage when fleecing is off', () => {
    expect(validateWizardStep(wizard({ useFleecing: false, storageSpec: '' }), 'fleecing')).toEqual({});
    expect(buildBackupRequest(wizard({ useFleecing: false, target: 'dir:/mnt/b' })).fleecing).toBeNull();
  });

  it('offers the formats the storage supports: auto always, qcow2 only where supported', () => {
    expect(formatChoices(null)).toEqual(['auto']);
    expect(formatChoices(DIR_STORAGE)).toEqual(['auto', 'qcow2', 'raw']);
    expect(formatChoices(LVMTHIN_STORAGE)).toEqual(['auto', 'raw']);
  });

  it('rejects a format the storage does not support', () => {
    const w = wizard({ storage: LVMTHIN_STORAGE, storageSpec: 'lvmthin:pve/data', storageCheckedSpec: 'lvmthin:pve/data', format: 'qcow2' });
    expect(validateWizardStep(w, 'fleecing').format).toMatch(/lvmthin:pve\/data does not support qcow2/);
    expect(validateWizardStep({ ...w, format: 'raw' }, 'fleecing')).toEqual({});
  });

  it('gives the Proxmox hints, plus the thick one for thick storage', () => {
    expect(fleecingHints(DIR_STORAGE)).toEqual([HINT_FAST_THIN]);
    expect(fleecingHints(THICK_STORAGE)).toEqual([HINT_FAST_THIN, HINT_THICK]);
    expect(HINT_FAST_THIN.toLowerCase()).toContain('prefer fast local thin storage');
    expect(HINT_THICK.toLowerCase()).toContain('thick storage reserves the full size of every image');
  });

  it('requires a dir:/ target and a positive bandwidth limit, if any', () => {
    expect(validateWizardStep(wizard({ target: '/mnt/backup' }), 'target').target).toMatch(/must be dir:\/absolute\/path/);
    expect(validateWizardStep(wizard({ target: 'dir:/mnt/backup' }), 'target')).toEqual({});
    expect(validateWizardStep(wizard({ target: 'dir:/mnt/backup', bwlimit: '-5' }), 'target').bwlimit).toMatch(/positive/);
    expect(buildBackupRequest(wizard({ target: ' dir:/mnt/backup ', bwlimit: '50' }))).toMatchObject({ target: 'dir:/mnt/backup', bwlimitMiB: 50 });
    expect(buildBackupRequest(wizard({ target: 'dir:/mnt/backup' }))).not.toHaveProperty('bwlimitMiB');
  });

  it('names the first invalid step', () => {
    const { firstInvalid, errors } = validateWizardUpTo(wizard({ selectedVmIds: [], target: 'x/y' }), 'review');
    expect(firstInvalid).toBe('vms');
    expect(Object.keys(errors).sort()).toEqual(['storage', 'target', 'vms']);
  });

  it('lists the exact image names of the plan, in order', () => {
    expect(plannedImageNames(PLAN)).toEqual(['vm-web-fleece-0.qcow2', 'vm-db-fleece-0.qcow2']);
    expect(plannedImageNames(null)).toEqual([]);
  });
});

describe('wizard actions', () => {
  const setup = () => {
    const fake = fakeApi({
      'hosts:list': () => [HOST, HOST2],
      'vms:list': () => VMS,
      'storages:describe': ({ spec }) => (spec.startsWith('lvmthin:') ? LVMTHIN_STORAGE : { ...DIR_STORAGE, spec }),
      'backup:plan': () => PLAN,
      'backup:start': () => ({ runId: 'run-9' }),
    });
    const store = createAppStore(fake.api);
    return { fake, store, s: () => store.getState() };
  };

  it('stays on the step and shows the error when Next is pressed too early', async () => {
    const { s } = setup();
    s().wizardNext();
    expect(s().wizard.step).toBe('host');
    expect(s().wizard.errors.host).toBeTruthy();
    s().setWizardHost('h1');
    expect(s().wizard.errors.host).toBeUndefined();
    s().wizardNext();
    expect(s().wizard.step).toBe('vms');
    await Promise.resolve();
    await Promise.resolve();
    expect(s().wizard.vms).toEqual(VMS);
  });

  it('blocks the fleecing step until the storage was checked, then resets an unsupported format', async () => {
    const { s, fake } = setup();
    s().setWizardHost('h1');
    s().wizardNext();
    await s().loadVms();
    s().toggleVm('web', true);
    s().wizardNext();
    expect(s().wizard.step).toBe('fleecing');
    s().wizardNext();
    expect(s().wizard.step).toBe('fleecing');
    expect(s().wizard.errors.storage).toMatch(/press Check/);

    s().setStorageSpec('dir:/var/lib/shear-fleece');
    await s().checkStorage();
    s().setFormat('qcow2');
    s().setStorageSpec('lvmthin:pve/data');
    await s().checkStorage();
    expect(fake.requestsTo('storages:describe')).toEqual([
      { hostId: 'h1', spec: 'dir:/var/lib/shear-fleece' },
      { hostId: 'h1', spec: 'lvmthin:pve/data' },
    ]);
    expect(s().wizard.format).toBe('auto');
    s().wizardNext();
    expect(s().wizard.step).toBe('target');
  });

  it('forgets VMs and the checked storage when the host changes', async () => {
    const { s } = setup();
    s().setWizardHost('h1');
    await s().loadVms();
    s().toggleVm('web', true);
    await s().checkStorage();
    expect(s().wizard.storage).not.toBeNull();
    s().setWizardHost('h2');
    expect(s().wizard.selectedVmIds).toEqual([]);
    expect(s().wizard.vms).toBeNull();
    expect(s().wizard.storage).toBeNull();
  });

  it('plans with the request built from the wizard, then starts and opens the run', async () => {
    const { s, fake } = setup();
    s().setWizardHost('h1');
    await s().loadVms();
    s().toggleVm('web', true);
    s().toggleVm('db', true);
    await s().checkStorage();
    s().setTarget('dir:/mnt/backup');
    s().setBwlimit('20');
    await s().loadPlan();
    const expected = { hostId: 'h1', vmIds: ['web', 'db'], fleecing: { storage: 'dir:/var/lib/shear-fleece', format: 'auto' }, target: 'dir:/mnt/backup', bwlimitMiB: 20 };
    expect(fake.requestsTo('backup:plan')).toEqual([expected]);
    expect(plannedImageNames(s().wizard.plan)).toEqual(['vm-web-fleece-0.qcow2', 'vm-db-fleece-0.qcow2']);
    await s().startBackup();
    expect(fake.requestsTo('backup:start')).toEqual([expected]);
    expect(s().screen).toBe('run');
    expect(s().currentRunId).toBe('run-9');
    expect(s().wizard.step).toBe('host');
  });

  it('drops a plan that arrives for choices changed since (no stale Review)', async () => {
    const replies: Array<(p: typeof PLAN) => void> = [];
    const fake = fakeApi({
      'hosts:list': () => [HOST],
      'vms:list': () => VMS,
      'storages:describe': ({ spec }) => ({ ...DIR_STORAGE, spec }),
      'backup:plan': () => new Promise<typeof PLAN>((resolve) => replies.push(resolve)),
    });
    const store = createAppStore(fake.api);
    const s = () => store.getState();
    s().setWizardHost('h1');
    await s().loadVms();
    s().toggleVm('web', true);
    await s().checkStorage();
    s().setTarget('dir:/mnt/backup');
    const slow = s().loadPlan();
    // Back to the fleecing step: another storage, checked, and a new plan asked for.
    s().setStorageSpec('dir:/srv/other');
    await s().checkStorage();
    const fresh = s().loadPlan();
    const otherPlan = { ...PLAN, images: PLAN.images.map((i) => ({ ...i, path: `/srv/other/${i.name}` })) };
    replies[1]?.(otherPlan);
    await fresh;
    replies[0]?.(PLAN);
    await slow;
    expect(s().wizard.plan).toEqual(otherPlan);
  });

  it('does not start when a rule is broken', async () => {
    const { s, fake } = setup();
    s().setWizardHost('h1');
    s().toggleVm('web', true);
    s().setTarget('dir:/mnt/backup');
    await s().startBackup();
    expect(fake.requestsTo('backup:start')).toEqual([]);
    expect(s().wizard.errors.storage).toBeTruthy();
  });
});
