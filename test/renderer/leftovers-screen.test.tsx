import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { CleanupReport } from '../../shared/model';
import { HOST, fakeApi, leftover } from './fake-api';
import { renderApp } from './render-app';

const ITEMS = [
  leftover('image:dir:/f:vm-web-fleece-0.qcow2', 'orphaned', { description: 'fleecing image vm-web-fleece-0.qcow2', sizeBytes: 1024 * 1024, ageMs: 7_200_000 }),
  leftover('filter:web:shear-ab-cbw', 'orphaned', { kind: 'filter', description: 'filter shear-ab-cbw under scsi0', urgent: true, vm: 'web' }),
  leftover('image:dir:/f:vm-old-fleece-3.qcow2', 'unknown', { description: 'fleecing image vm-old-fleece-3.qcow2' }),
  leftover('journal:run-live', 'in-use', { kind: 'journal', description: 'journal of run live', reason: 'the run is alive' }),
];

function setup() {
  const report: CleanupReport = { removed: [{ id: ITEMS[0]!.id, description: ITEMS[0]!.description }], skipped: [], failed: [{ id: ITEMS[1]!.id, description: ITEMS[1]!.description, error: 'device busy' }] };
  const fake = fakeApi({ 'hosts:list': () => [HOST], 'leftovers:scan': () => ITEMS, 'leftovers:clean': () => report });
  renderApp(fake);
  return fake;
}

async function scan() {
  fireEvent.click(await screen.findByRole('button', { name: 'Leftovers' }));
  await waitFor(() => expect(screen.getByLabelText<HTMLSelectElement>('Host').value).toBe('h1'));
  fireEvent.change(screen.getByLabelText('Fleecing storages'), { target: { value: 'dir:/f, dir:/g' } });
  fireEvent.click(screen.getByRole('button', { name: 'Scan' }));
  await screen.findByRole('region', { name: 'Orphaned leftovers' });
}

describe('leftovers screen', () => {
  it('groups items by class, highlights urgent ones, and cleans up the orphaned ones', async () => {
    const fake = setup();
    await scan();
    expect(fake.requestsTo('leftovers:scan')).toEqual([{ hostId: 'h1', storages: ['dir:/f', 'dir:/g'] }]);
    const orphaned = screen.getByRole('region', { name: 'Orphaned leftovers' });
    const items = within(orphaned).getAllByRole('listitem');
    expect(items.map((i) => i.getAttribute('data-leftover-id'))).toEqual(['filter:web:shear-ab-cbw', 'image:dir:/f:vm-web-fleece-0.qcow2']);
    expect(items[0]!.getAttribute('data-urgent')).toBe('true');
    expect(items[0]!.textContent).toContain('Urgent');
    expect(items[1]!.textContent).toContain('1.0 MiB');
    expect(items[1]!.textContent).toContain('2 h old');
    expect(within(screen.getByRole('region', { name: 'In use leftovers' })).getByRole('listitem').textContent).toContain('the run is alive');

    fireEvent.click(screen.getByRole('button', { name: 'Clean up' }));
    const report = await screen.findByRole('region', { name: 'Cleanup report' });
    expect(fake.requestsTo('leftovers:clean')).toEqual([
      { hostId: 'h1', storages: ['dir:/f', 'dir:/g'], ids: ['image:dir:/f:vm-web-fleece-0.qcow2', 'filter:web:shear-ab-cbw'], includeUnknown: [] },
    ]);
    expect(within(report).getByRole('list', { name: 'Removed' }).textContent).toContain('vm-web-fleece-0.qcow2');
    expect(within(report).getByRole('list', { name: 'Failed' }).textContent).toContain('device busy');
  });

  it('removes an unknown item only after "Confirm remove"', async () => {
    const fake = setup();
    await scan();
    const unknown = within(screen.getByRole('region', { name: 'Unknown origin leftovers' })).getByRole('listitem');
    fireEvent.click(within(unknown).getByRole('button', { name: 'Remove…' }));
    expect(fake.requestsTo('leftovers:clean')).toEqual([]);
    fireEvent.click(within(unknown).getByRole('button', { name: 'Confirm remove' }));
    await waitFor(() =>
      expect(fake.requestsTo('leftovers:clean')).toEqual([
        { hostId: 'h1', storages: ['dir:/f', 'dir:/g'], ids: ['image:dir:/f:vm-old-fleece-3.qcow2'], includeUnknown: ['image:dir:/f:vm-old-fleece-3.qcow2'] },
      ]),
    );
  });
});
