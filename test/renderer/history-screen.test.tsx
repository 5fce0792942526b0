import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { HistoryEntry } from '../../shared/contract';
import { fakeApi } from './fake-api';
import { renderApp } from './render-app';

const ENTRY: HistoryEntry = {
  runId: 'r1',
  hostLabel: 'pve1 (root@192.168.1.10:22)',
  vmIds: ['web', 'db'],
  state: 'succeeded',
  startedAt: 1_700_000_000_000,
  finishedAt: 1_700_000_185_000,
  archives: ['/mnt/backup/web/20231114T221320Z', '/mnt/backup/db/20231114T221330Z'],
  error: null,
};

describe('history screen', () => {
  it('lists finished runs with host, VMs, result, duration and archives; refreshes', async () => {
    let entries: HistoryEntry[] = [ENTRY];
    const fake = fakeApi({ 'history:list': () => entries });
    renderApp(fake);
    fireEvent.click(await screen.findByRole('button', { name: 'History' }));
    const table = await screen.findByRole('table', { name: 'Backup history' });
    const row = within(table).getAllByRole('row')[1]!;
    expect(row.getAttribute('data-run-id')).toBe('r1');
    expect(row.textContent).toContain('pve1 (root@192.168.1.10:22)');
    expect(row.textContent).toContain('web, db');
    expect(row.textContent).toContain('Succeeded');
    expect(row.textContent).toContain('3 min 05 s');
    expect(row.textContent).toContain('/mnt/backup/db/20231114T221330Z');

    entries = [{ ...ENTRY, runId: 'r2', state: 'failed', error: 'web: boom', startedAt: ENTRY.startedAt + 10_000_000, finishedAt: ENTRY.finishedAt + 10_000_000, archives: [] }, ENTRY];
    fireEvent.click(screen.getByRole('button', { name: 'Refresh' }));
    await waitFor(() => expect(within(table).getAllByRole('row')).toHaveLength(3));
    expect(within(table).getAllByRole('row')[1]!.textContent).toContain('web: boom');
  });
});
