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

const MANIFEST = {
  formatVersion: 1 as const,
  tool: { name: 'shear' as const, version: '0.1.0' },
  vm: { id: 'web', name: 'web' },
  host: 'root@pve1',
  startedAt: '2023-11-14T22:13:20.000Z',
  finishedAt: '2023-11-14T22:16:25.000Z',
  qemuVersion: '10.0.2',
  runState: 'running',
  pauseMs: 9,
  fsFreeze: 'no-agent' as const,
  definition: 'definition.json',
  disks: [
    { device: 'scsi0', file: 'scsi0.qcow2', format: 'qcow2' as const, size: 32 * 1024 * 1024, fleecing: true, role: 'disk' as const, checksum: { algorithm: 'sha256-4MiB-chunks', digest: 'a'.repeat(64) } },
    { device: 'efidisk0', file: 'efidisk0.qcow2', format: 'qcow2' as const, size: 540672, fleecing: false, role: 'efivars' as const },
  ],
};

describe('verify and restore from the history', () => {
  const archive = '/mnt/backup/web/20231114T221320Z';
  const entry: HistoryEntry = { ...ENTRY, hostId: 'h1', kind: 'backup', vmIds: ['web'], archives: [archive] };

  it('verifies an archive as a run and shows it', async () => {
    const fake = fakeApi({ 'history:list': () => [entry], 'archives:verify': () => ({ runId: 'v1' }) });
    renderApp(fake);
    fireEvent.click(await screen.findByRole('button', { name: 'History' }));
    fireEvent.click(await screen.findByRole('button', { name: `Verify ${archive}` }));
    await waitFor(() => expect(fake.requestsTo('archives:verify')).toEqual([{ hostId: 'h1', archive }]));
    expect(await screen.findByRole('heading', { name: 'Run' })).toBeTruthy();
  });

  it('restores chosen disks as new images, and into a VM only after the explicit yes', async () => {
    const fake = fakeApi({ 'history:list': () => [entry], 'archives:inspect': () => MANIFEST, 'archives:restore': () => ({ runId: 'r9' }) });
    renderApp(fake);
    fireEvent.click(await screen.findByRole('button', { name: 'History' }));
    fireEvent.click(await screen.findByRole('button', { name: `Restore ${archive}` }));
    const panel = await screen.findByRole('region', { name: `Restore ${archive}` });
    const start = await within(panel).findByRole('button', { name: 'Start restore' });
    expect((start as HTMLButtonElement).disabled).toBe(true); // no storage yet
    fireEvent.click(within(panel).getByRole('checkbox', { name: /efidisk0/ }));
    fireEvent.change(within(panel).getByLabelText('Storage'), { target: { value: 'dir:/srv/restore' } });
    expect((start as HTMLButtonElement).disabled).toBe(false);
    fireEvent.click(within(panel).getByRole('radio', { name: /Into the disks of a VM/ }));
    expect((within(panel).getByLabelText('VM') as HTMLInputElement).value).toBe('web');
    expect((start as HTMLButtonElement).disabled).toBe(true); // not confirmed
    fireEvent.click(within(panel).getByRole('checkbox', { name: 'Overwrite the chosen disks of this VM' }));
    fireEvent.click(within(panel).getByRole('radio', { name: /New images/ }));
    fireEvent.click(start);
    await waitFor(() => expect(fake.requestsTo('archives:restore')).toEqual([
      { hostId: 'h1', archive, disks: ['scsi0'], target: { kind: 'new', storage: 'dir:/srv/restore' } },
    ]));
    expect(await screen.findByRole('heading', { name: 'Run' })).toBeTruthy();
  });

  it('offers verify and restore for the archives a failed run did finish', async () => {
    const failed: HistoryEntry = { ...entry, runId: 'f1', vmIds: ['web', 'db'], state: 'failed', error: 'db: target full' };
    const fake = fakeApi({ 'history:list': () => [failed] });
    renderApp(fake);
    fireEvent.click(await screen.findByRole('button', { name: 'History' }));
    expect(await screen.findByRole('button', { name: `Verify ${archive}` })).toBeTruthy();
    expect(screen.getByRole('button', { name: `Restore ${archive}` })).toBeTruthy();
  });

  it('offers no actions for entries that did not make archives or do not know their host', async () => {
    const fake = fakeApi({ 'history:list': () => [ENTRY, { ...entry, runId: 'x', kind: 'restore' }] });
    renderApp(fake);
    fireEvent.click(await screen.findByRole('button', { name: 'History' }));
    await screen.findByRole('table', { name: 'Backup history' });
    expect(screen.queryAllByRole('button', { name: /^Verify / })).toEqual([]);
  });
});
