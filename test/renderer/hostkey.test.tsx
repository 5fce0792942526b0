import { act, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { HOST, apiError, fakeApi } from './fake-api';
import { renderApp } from './render-app';

const PROMPT = { promptId: 'prompt-7', host: '192.168.1.10', port: 22, keyType: 'ssh-ed25519', fingerprint: 'SHA256:3q2+7wXf0S0Qn1m0m5a7c9VnX4hX6C0Qm6b1t2Vb5cE' };

describe('host key prompt', () => {
  it('shows host:port, key type and fingerprint, and answers trust=true on "Trust"', async () => {
    const fake = fakeApi({ 'hosts:list': () => [HOST], 'hostkey:answer': () => undefined });
    renderApp(fake);
    await screen.findByRole('row', { name: /pve1/ });
    expect(screen.queryByRole('dialog')).toBeNull();

    act(() => fake.emit('hostkey:prompt', PROMPT));
    const dialog = screen.getByRole('dialog', { name: 'New host key' });
    expect(dialog.getAttribute('aria-modal')).toBe('true');
    expect(within(dialog).getByTestId('hostkey-host').textContent).toBe('192.168.1.10:22');
    expect(within(dialog).getByTestId('hostkey-type').textContent).toBe('ssh-ed25519');
    expect(within(dialog).getByTestId('hostkey-fingerprint').textContent).toBe(PROMPT.fingerprint);

    fireEvent.click(within(dialog).getByRole('button', { name: 'Trust' }));
    await waitFor(() => expect(fake.requestsTo('hostkey:answer')).toEqual([{ promptId: 'prompt-7', trust: true }]));
    expect(screen.queryByRole('dialog')).toBeNull();
  });

  it('answers trust=false on "Reject" and shows the refusal on the host', async () => {
    let answered: boolean | null = null;
    const fake = fakeApi({
      'hosts:list': () => [HOST],
      'hostkey:answer': ({ trust }) => {
        answered = trust;
      },
      'hosts:test': () =>
        new Promise((_resolve, reject) => {
          // The engine asks while the test is running; a "no" fails the connection.
          fake.emit('hostkey:prompt', PROMPT);
          const wait = setInterval(() => {
            if (answered === null) return;
            clearInterval(wait);
            reject(apiError('root@192.168.1.10:22: host key ssh-ed25519 SHA256:3q2 was not trusted', 'host-key-unknown'));
          }, 5);
        }),
    });
    renderApp(fake);
    const row = await screen.findByRole('row', { name: /pve1/ });
    fireEvent.click(within(row).getByRole('button', { name: 'Test connection' }));
    const dialog = await screen.findByRole('dialog', { name: 'New host key' });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Reject' }));
    expect(await within(row).findByRole('alert')).toHaveProperty('textContent', expect.stringMatching(/host key was not trusted/i));
    expect(fake.requestsTo('hostkey:answer')).toEqual([{ promptId: 'prompt-7', trust: false }]);
  });
});

describe('host key questions across reloads and windows', () => {
  it('shows a question still open when the page loads, and closes it when another window answered', async () => {
    const fake = fakeApi({ 'hosts:list': () => [HOST], 'hostkey:pending': () => [PROMPT] });
    renderApp(fake);
    const dialog = await screen.findByRole('dialog', { name: 'New host key' });
    expect(within(dialog).getByTestId('hostkey-fingerprint').textContent).toBe(PROMPT.fingerprint);
    act(() => fake.emit('hostkey:resolved', { promptId: PROMPT.promptId }));
    expect(screen.queryByRole('dialog')).toBeNull();
  });
});

describe('changed host key', () => {
  it('blocks the app with both fingerprints until acknowledged', async () => {
    const message =
      'root@192.168.1.10:22: HOST KEY CHANGED: the server offered ssh-ed25519 SHA256:NEWkeyNEWkey, but /home/u/.config/shear/known_hosts has SHA256:OLDkeyOLDkey for it. This may be an attack (man in the middle) or a reinstalled host; remove the old key only if you know why it changed.';
    const fake = fakeApi({
      'hosts:list': () => [HOST],
      'hosts:test': () => {
        throw apiError(message, 'host-key-changed');
      },
    });
    const { container } = renderApp(fake);
    const row = await screen.findByRole('row', { name: /pve1/ });
    fireEvent.click(within(row).getByRole('button', { name: 'Test connection' }));
    const alert = await screen.findByRole('alertdialog', { name: 'Host key changed' });
    expect(within(alert).getByTestId('hostkey-offered').textContent).toBe('SHA256:NEWkeyNEWkey');
    expect(within(alert).getByTestId('hostkey-known').textContent).toBe('SHA256:OLDkeyOLDkey');
    expect(alert.textContent).toContain('root@192.168.1.10:22');
    expect(container.querySelector('.shell')?.hasAttribute('inert')).toBe(true);

    fireEvent.click(within(alert).getByRole('button', { name: 'Acknowledge' }));
    expect(screen.queryByRole('alertdialog')).toBeNull();
    expect(container.querySelector('.shell')?.hasAttribute('inert')).toBe(false);
  });
});
