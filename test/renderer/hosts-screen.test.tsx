import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { Host } from '../../shared/contract';
import { HOST, apiError, fakeApi } from './fake-api';
import { renderApp } from './render-app';

describe('hosts screen', () => {
  it('stores the basic_text agreement only when the user ticks it', async () => {
    const fake = fakeApi({
      'settings:get': () => ({ allowBasicTextSecrets: false }),
      'settings:set': (req) => ({ allowBasicTextSecrets: req.allowBasicTextSecrets }),
    });
    renderApp(fake);
    const box = await screen.findByRole('checkbox', { name: /without a system keyring/ });
    expect((box as HTMLInputElement).checked).toBe(false);
    fireEvent.click(box);
    await waitFor(() => expect((box as HTMLInputElement).checked).toBe(true));
    expect(fake.requestsTo('settings:set')).toEqual([{ allowBasicTextSecrets: true }]);
  });

  it('imports a host from ~/.ssh/config into a pre-filled form', async () => {
    const fake = fakeApi({
      'hosts:sshConfig': () => [
        { alias: 'pve-lab', host: '10.0.0.9', port: 2222, user: 'admin', identityFile: '/home/me/.ssh/lab', jumps: ['me@bastion:22'] },
      ],
    });
    renderApp(fake);
    fireEvent.click(await screen.findByRole('button', { name: 'Import from ~/.ssh/config' }));
    const list = await screen.findByRole('region', { name: 'Hosts in ~/.ssh/config' });
    expect(list.textContent).toContain('admin@10.0.0.9:2222 via me@bastion:22');
    fireEvent.click(within(list).getByRole('button', { name: 'Use pve-lab' }));
    const form = screen.getByRole('form', { name: 'New host' });
    expect(within(form).getByLabelText<HTMLInputElement>('Name').value).toBe('pve-lab');
    expect(within(form).getByLabelText<HTMLInputElement>('Address').value).toBe('pve-lab');
    expect(within(form).getByLabelText<HTMLInputElement>('Port').value).toBe('2222');
    expect(within(form).getByLabelText<HTMLInputElement>('User').value).toBe('admin');
    expect(within(form).getByLabelText<HTMLSelectElement>('Authentication').value).toBe('key');
    expect(within(form).getByLabelText<HTMLInputElement>('Private key file').value).toBe('/home/me/.ssh/lab');
  });

  it('adds a host with the defaults (port 22, user root)', async () => {
    const fake = fakeApi({
      'hosts:save': ({ host }): Host => ({ id: 'new', name: host.name, address: host.address, port: host.port, user: host.user, authKind: host.auth.kind, hasSecret: false }),
    });
    renderApp(fake);
    fireEvent.click(await screen.findByRole('button', { name: 'Add host' }));
    const form = screen.getByRole('form', { name: 'New host' });
    expect(within(form).getByLabelText<HTMLInputElement>('Port').value).toBe('22');
    expect(within(form).getByLabelText<HTMLInputElement>('User').value).toBe('root');
    fireEvent.click(within(form).getByRole('button', { name: 'Save host' }));
    expect(within(form).getAllByRole('alert').map((a) => a.textContent)).toEqual(expect.arrayContaining([expect.stringMatching(/name is required/i)]));
    expect(fake.requestsTo('hosts:save')).toEqual([]);

    fireEvent.change(within(form).getByLabelText('Name'), { target: { value: 'pve2' } });
    fireEvent.change(within(form).getByLabelText('Address'), { target: { value: '10.0.0.2' } });
    fireEvent.change(within(form).getByLabelText('Authentication'), { target: { value: 'key' } });
    fireEvent.change(within(form).getByLabelText('Private key file'), { target: { value: '~/.ssh/id_ed25519' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Save host' }));
    await screen.findByRole('row', { name: /pve2/ });
    expect(fake.requestsTo('hosts:save')).toEqual([{ host: { name: 'pve2', address: '10.0.0.2', port: 22, user: 'root', auth: { kind: 'key', privateKeyPath: '~/.ssh/id_ed25519' } } }]);
    expect(screen.queryByRole('form')).toBeNull();
  });

  it('tests a connection: vm count, or the error with a hint', async () => {
    let ok = true;
    const fake = fakeApi({
      'hosts:list': () => [HOST],
      'hosts:test': () => {
        if (ok) return { label: 'pve1', vmCount: 2 };
        throw apiError('root@192.168.1.10:22: authentication failed', 'auth');
      },
    });
    renderApp(fake);
    const row = await screen.findByRole('row', { name: /pve1/ });
    fireEvent.click(within(row).getByRole('button', { name: 'Test connection' }));
    expect((await within(row).findByText(/Connected: 2 VMs running/)).textContent).toBeTruthy();
    ok = false;
    fireEvent.click(within(row).getByRole('button', { name: 'Test connection' }));
    expect((await within(row).findByRole('alert')).textContent).toMatch(/Authentication failed: check the user name/);
  });

  it('removes a host after confirmation', async () => {
    const fake = fakeApi({ 'hosts:list': () => [HOST], 'hosts:remove': () => undefined });
    renderApp(fake);
    const row = await screen.findByRole('row', { name: /pve1/ });
    fireEvent.click(within(row).getByRole('button', { name: 'Remove' }));
    fireEvent.click(within(row).getByRole('button', { name: 'Confirm remove' }));
    await waitFor(() => expect(screen.queryByRole('row', { name: /pve1/ })).toBeNull());
    expect(fake.requestsTo('hosts:remove')).toEqual([{ id: 'h1' }]);
  });
});
