import { act, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { HOST, fakeApi, lines, run } from './fake-api';
import { renderApp } from './render-app';

const MiB = 1024 * 1024;

function openRun() {
  const fake = fakeApi({ 'hosts:list': () => [HOST], 'runs:list': () => [run({ log: lines(1, 2) })], 'runs:cancel': () => undefined });
  const view = renderApp(fake, (store) => store.getState().openRun('run-1'));
  return { fake, ...view };
}

describe('run screen', () => {
  it('shows the guest write latency now and before the backup beside the disk', async () => {
    const { fake } = openRun();
    await screen.findByRole('heading', { name: /Backup of/ });
    expect(screen.queryByTestId('write-latency')).toBeNull();
    act(() =>
      fake.emit('runs:update', [
        run({ log: [], disks: [{ vm: 'web', disk: 'vd0', done: MiB, total: 32 * MiB, rate: MiB, etaSeconds: 31, latencyNowUs: 1460, latencyBeforeUs: 620 }] }),
      ]),
    );
    expect(screen.getByLabelText('Guest write latency of web/vd0').textContent).toBe('guest writes: 1.5 ms now, 620 µs before the backup');
  });

  it('reads the runs again when browser mode reconnects: a run that ended meanwhile shows its end', async () => {
    let state: 'running' | 'succeeded' = 'running';
    const fake = fakeApi({ 'hosts:list': () => [HOST], 'runs:list': () => [run({ state, log: lines(1, 2), ...(state === 'succeeded' ? { finishedAt: 1_700_000_009_000 } : {}) })] });
    renderApp(fake, (store) => store.getState().openRun('run-1'));
    await screen.findByRole('heading', { name: /Backup of/ });
    expect(screen.getByTestId('run-state').textContent).toBe('Running');
    // The run ended while the connection was down: its last update was never heard.
    state = 'succeeded';
    act(() => fake.emit('api:reconnected', null));
    await waitFor(() => expect(screen.getByTestId('run-state').textContent).toBe('Succeeded'));
  });

  it('shows per-disk progress bars, steps and warnings from runs:update', async () => {
    const { fake } = openRun();
    await screen.findByRole('heading', { name: /Backup of/ });
    act(() =>
      fake.emit('runs:update', [
        run({
          log: lines(3, 4),
          steps: [
            { vm: 'web', step: 'attach fleecing', state: 'done', ms: 42 },
            { vm: 'web', step: 'copy', state: 'started' },
          ],
          disks: [{ vm: 'web', disk: 'scsi0', done: 8 * MiB, total: 32 * MiB, rate: 4 * MiB, etaSeconds: 6 }],
          warnings: ['web: no guest agent: the backup is crash-consistent'],
        }),
      ]),
    );
    const bar = screen.getByRole('progressbar', { name: 'web/scsi0' });
    expect(bar.getAttribute('aria-valuenow')).toBe('25');
    const disk = bar.closest('li')!;
    expect(disk.textContent).toContain('8.0 MiB / 32.0 MiB');
    expect(disk.textContent).toContain('4.0 MiB/s');
    expect(disk.textContent).toContain('ETA 0:06');
    expect(screen.getByRole('list', { name: 'Steps of web' }).textContent).toContain('42 ms');
    expect(screen.getByRole('region', { name: 'Warnings' }).textContent).toContain('crash-consistent');
    expect(within(screen.getByRole('list', { name: 'Run log' })).getAllByRole('listitem')).toHaveLength(4);

    act(() => fake.emit('runs:update', [run({ state: 'succeeded', finishedAt: 1_700_000_009_000, log: [], disks: [{ vm: 'web', disk: 'scsi0', done: 32 * MiB, total: 32 * MiB, rate: 0, etaSeconds: 0 }] })]));
    expect(screen.getByRole('progressbar', { name: 'web/scsi0' }).getAttribute('aria-valuenow')).toBe('100');
    expect(screen.getByTestId('run-state').textContent).toBe('Succeeded');
    expect(screen.queryByRole('button', { name: 'Cancel backup' })).toBeNull();
  });

  it('cancels through runs:cancel', async () => {
    const { fake } = openRun();
    fireEvent.click(await screen.findByRole('button', { name: 'Cancel backup' }));
    await waitFor(() => expect(fake.requestsTo('runs:cancel')).toEqual([{ runId: 'run-1' }]));
  });

  it('renders only the newest 500 matching lines of thousands, filters by level and search, and copies', async () => {
    const { fake } = openRun();
    await screen.findByRole('heading', { name: /Backup of/ });
    act(() => fake.emit('runs:update', [run({ log: [...lines(3, 4000), ...lines(4001, 4002, 'warn'), ...lines(4003, 4003, 'error')] })]));
    const log = screen.getByRole('list', { name: 'Run log' });
    const items = within(log).getAllByRole('listitem');
    expect(items).toHaveLength(500);
    expect(items.at(-1)!.textContent).toContain('line 4003');
    expect(screen.getByText(/Showing the newest 500 of 4003 matching lines/)).toBeTruthy();

    fireEvent.change(screen.getByLabelText('Level'), { target: { value: 'warn' } });
    expect(within(log).getAllByRole('listitem').map((li) => li.getAttribute('data-level'))).toEqual(['warn', 'warn', 'error']);

    fireEvent.change(screen.getByLabelText('Level'), { target: { value: 'all' } });
    fireEvent.change(screen.getByLabelText('Search log'), { target: { value: 'line 399' } });
    await waitFor(() => expect(within(log).getAllByRole('listitem')).toHaveLength(11));

    const writeText = vi.fn(async () => undefined);
    Object.defineProperty(navigator, 'clipboard', { value: { writeText }, configurable: true });
    fireEvent.click(screen.getByRole('button', { name: 'Copy log' }));
    await screen.findByText('Copied 11 lines.');
    const text = (writeText.mock.calls[0] as unknown as [string])[0];
    expect(text.split('\n')).toHaveLength(11);
  });

  it('is reachable from the Runs list', async () => {
    const fake = fakeApi({ 'runs:list': () => [run({ vmIds: ['web', 'db'] })] });
    renderApp(fake);
    fireEvent.click(await screen.findByRole('button', { name: 'Runs' }));
    const row = await screen.findByRole('row', { name: /web, db/ });
    fireEvent.click(within(row).getByRole('button', { name: 'Open' }));
    expect(await screen.findByRole('heading', { name: 'Backup of web, db' })).toBeTruthy();
  });
});
