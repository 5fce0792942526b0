import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { VmDetails } from '../../shared/model';
import { DIR_STORAGE, HOST, HOST2, LVMTHIN_STORAGE, MiB, PLAN, VMS, fakeApi, run, vm, type Handlers } from './fake-api';
import { renderApp } from './render-app';

const api = (over: Handlers = {}) =>
  fakeApi({
    'hosts:list': () => [HOST, HOST2],
    'vms:list': () => VMS,
    'storages:describe': ({ spec }) => (spec.startsWith('lvmthin:') ? LVMTHIN_STORAGE : { ...DIR_STORAGE, spec }),
    'backup:plan': () => PLAN,
    'backup:start': () => ({ runId: 'run-1' }),
    'runs:list': () => [run({ vmIds: ['web', 'db'] })],
    ...over,
  });

const next = () => fireEvent.click(screen.getByRole('button', { name: 'Next' }));
const currentStep = () => screen.getByRole('list', { name: 'Backup steps' }).querySelector('[aria-current="step"]')?.textContent;

/** Opens the wizard and goes to the fleecing step with "web" selected. */
async function toFleecingStep() {
  fireEvent.click(await screen.findByRole('button', { name: 'Backup' }));
  await screen.findByRole('option', { name: 'pve1' });
  fireEvent.change(screen.getByLabelText('Host'), { target: { value: 'h1' } });
  next();
  fireEvent.click(await screen.findByRole('checkbox', { name: 'web' }));
  next();
  expect(currentStep()).toContain('Fleecing');
}

describe('backup wizard', () => {
  it('shows the VMs with their disks and sizes', async () => {
    renderApp(api());
    fireEvent.click(await screen.findByRole('button', { name: 'Backup' }));
    await screen.findByRole('option', { name: 'pve1' });
    fireEvent.change(screen.getByLabelText('Host'), { target: { value: 'h1' } });
    next();
    const table = await screen.findByRole('table', { name: 'Virtual machines' });
    const web = within(table).getByRole('checkbox', { name: 'web' }).closest('tr')!;
    expect(web.textContent).toContain('scsi0');
    expect(web.textContent).toContain('32.0 MiB');
    expect(web.textContent).toContain('running');
    next();
    expect(screen.getByRole('alert').textContent).toBe('Select at least one VM.');
    expect(currentStep()).toContain('VMs');
  });

  it('lists a VM it could not inspect with the reason, not selectable, and says which drives are left out', async () => {
    const busy: VmDetails = { ...vm('busy', []), runState: 'unknown', inspectError: 'the QMP monitor of VM busy is busy: another client holds it' };
    const passthrough: VmDetails = { ...vm('pt', [{ device: 'scsi0', sizeBytes: 32 * MiB }]), skipped: [{ device: 'scsi1', reason: 'a SCSI passthrough device (scsi-block)' }] };
    renderApp(api({ 'vms:list': () => [...VMS, busy, passthrough] }));
    fireEvent.click(await screen.findByRole('button', { name: 'Backup' }));
    await screen.findByRole('option', { name: 'pve1' });
    fireEvent.change(screen.getByLabelText('Host'), { target: { value: 'h1' } });
    next();
    const table = await screen.findByRole('table', { name: 'Virtual machines' });
    const busyBox = within(table).getByRole('checkbox', { name: 'busy' });
    expect(busyBox).toHaveProperty('disabled', true);
    expect(busyBox.closest('tr')?.textContent).toContain('cannot be inspected: the QMP monitor of VM busy is busy');
    const ptRow = within(table).getByRole('checkbox', { name: 'pt' }).closest('tr');
    expect(ptRow?.textContent).toContain('scsi1 not backed up: a SCSI passthrough device (scsi-block)');
  });

  it('blocks Next with a clear message while fleecing is on and no storage was checked', async () => {
    const fake = api();
    renderApp(fake);
    await toFleecingStep();
    expect(screen.getByRole('checkbox', { name: 'Use fleecing' })).toHaveProperty('checked', true);
    next();
    expect(currentStep()).toContain('Fleecing');
    expect(screen.getByRole('alert').textContent).toMatch(/Fleecing is on: press Check to verify the fleecing storage/);
    expect(fake.requestsTo('storages:describe')).toEqual([]);

    fireEvent.change(screen.getByLabelText('Fleecing storage'), { target: { value: '' } });
    next();
    expect(screen.getByRole('alert').textContent).toMatch(/enter a fleecing storage and press Check/);

    // Turning fleecing off lifts the requirement.
    fireEvent.click(screen.getByRole('checkbox', { name: 'Use fleecing' }));
    next();
    expect(currentStep()).toContain('Target');
  });

  it('shows what Check found and offers only raw for an lvmthin storage', async () => {
    const fake = api();
    renderApp(fake);
    await toFleecingStep();
    const format = () => screen.getByLabelText<HTMLSelectElement>('Image format');
    expect([...format().options].map((o) => o.value)).toEqual(['auto']);

    fireEvent.change(screen.getByLabelText('Fleecing storage'), { target: { value: 'lvmthin:pve/data' } });
    fireEvent.click(screen.getByRole('button', { name: 'Check' }));
    const facts = await screen.findByRole('status', { name: 'Storage check' });
    expect(facts.textContent).toContain('lvmthin');
    expect(facts.textContent).toContain('100 GiB');
    expect(fake.requestsTo('storages:describe')).toEqual([{ hostId: 'h1', spec: 'lvmthin:pve/data' }]);
    expect([...format().options].map((o) => o.value)).toEqual(['auto', 'raw']);
    expect(screen.getByRole('list', { name: 'Fleecing hints' }).textContent).toMatch(/prefer fast local thin storage/i);

    fireEvent.change(screen.getByLabelText('Fleecing storage'), { target: { value: 'dir:/var/lib/shear-fleece' } });
    fireEvent.click(screen.getByRole('button', { name: 'Check' }));
    await waitFor(() => expect([...format().options].map((o) => o.value)).toEqual(['auto', 'qcow2', 'raw']));
  });

  it('warns that thick storage reserves the full size', async () => {
    renderApp(api({ 'storages:describe': () => ({ ...DIR_STORAGE, thin: false }) }));
    await toFleecingStep();
    fireEvent.click(screen.getByRole('button', { name: 'Check' }));
    await screen.findByRole('status', { name: 'Storage check' });
    expect(screen.getByRole('list', { name: 'Fleecing hints' }).textContent).toMatch(/thick storage reserves the full size of every image/i);
  });

  it('reviews the plan with every image name, then starts the backup and shows the run', async () => {
    const fake = api();
    renderApp(fake);
    fireEvent.click(await screen.findByRole('button', { name: 'Backup' }));
    await screen.findByRole('option', { name: 'pve1' });
    fireEvent.change(screen.getByLabelText('Host'), { target: { value: 'h1' } });
    next();
    fireEvent.click(await screen.findByRole('checkbox', { name: 'web' }));
    fireEvent.click(screen.getByRole('checkbox', { name: 'db' }));
    next();
    fireEvent.click(screen.getByRole('button', { name: 'Check' }));
    await screen.findByRole('status', { name: 'Storage check' });
    next();
    fireEvent.change(screen.getByLabelText('Backup target'), { target: { value: '/mnt/backup' } });
    next();
    expect(screen.getByRole('alert').textContent).toMatch(/must be dir:\/absolute\/path/);
    fireEvent.change(screen.getByLabelText('Backup target'), { target: { value: 'dir:/mnt/backup' } });
    fireEvent.change(screen.getByLabelText('Bandwidth limit (MiB/s)'), { target: { value: '25' } });
    next();

    const images = await screen.findByRole('table', { name: 'Fleecing images' });
    const names = within(images).getAllByTestId('planned-image-name').map((c) => c.textContent);
    expect(names).toEqual(['vm-web-fleece-0.qcow2', 'vm-db-fleece-0.qcow2']);
    expect(images.textContent).toContain('/var/lib/shear-fleece/vm-web-fleece-0.qcow2');
    expect(images.textContent).toContain('64.0 MiB');
    expect(screen.getByRole('table', { name: 'Disks copied directly' }).textContent).toContain('efidisk0');
    const request = { hostId: 'h1', vmIds: ['web', 'db'], fleecing: { storage: 'dir:/var/lib/shear-fleece', format: 'auto' }, target: 'dir:/mnt/backup', bwlimitMiB: 25 };
    expect(fake.requestsTo('backup:plan')).toEqual([request]);

    fireEvent.click(screen.getByRole('button', { name: 'Start backup' }));
    await screen.findByRole('heading', { name: /Backup of/ });
    expect(fake.requestsTo('backup:start')).toEqual([request]);
    expect(screen.getByTestId('run-state').textContent).toBe('Running');
    expect(screen.getByRole('button', { name: 'Cancel backup' })).toBeTruthy();
  });
});
