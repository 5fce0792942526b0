import { describe, expect, it } from 'vitest';
import { createAppStore } from '../../renderer/store/index';
import { emptyHostForm, hostFormToInput, hostToForm } from '../../renderer/store/hosts';
import { HOST, HOST2, apiError, fakeApi } from './fake-api';

describe('host form (pure)', () => {
  it('defaults to port 22, user root, agent auth', () => {
    expect(emptyHostForm()).toMatchObject({ port: '22', user: 'root', authKind: 'agent' });
  });

  it('builds the contract input for each auth kind', () => {
    const base = { ...emptyHostForm(), name: 'pve1', address: '10.0.0.5' };
    expect(hostFormToInput(base).input).toEqual({ name: 'pve1', address: '10.0.0.5', port: 22, user: 'root', auth: { kind: 'agent' } });
    expect(hostFormToInput({ ...base, authKind: 'key', privateKeyPath: '~/.ssh/id', passphrase: '' }).input?.auth).toEqual({ kind: 'key', privateKeyPath: '~/.ssh/id' });
    expect(hostFormToInput({ ...base, authKind: 'key', privateKeyPath: '~/.ssh/id', passphrase: 'pp' }).input?.auth).toEqual({ kind: 'key', privateKeyPath: '~/.ssh/id', passphrase: 'pp' });
    expect(hostFormToInput({ ...base, authKind: 'password', password: 's3cret' }).input?.auth).toEqual({ kind: 'password', password: 's3cret' });
  });

  it('names the wrong fields', () => {
    const { input, errors } = hostFormToInput({ ...emptyHostForm(), name: '', address: 'a b', port: '70000', user: 'ro ot', authKind: 'password' });
    expect(input).toBeNull();
    expect(Object.keys(errors).sort()).toEqual(['address', 'name', 'password', 'port', 'user']);
    expect(hostFormToInput({ ...emptyHostForm(), name: 'x', address: 'y', authKind: 'key' }).errors.privateKeyPath).toBeTruthy();
  });

  it('edits never show a stored secret', () => {
    expect(hostToForm(HOST2)).toMatchObject({ authKind: 'key', privateKeyPath: '~/.ssh/id_ed25519', passphrase: '', port: '2222' });
  });
});

describe('hosts actions', () => {
  it('tests a connection and keeps the vm count or the error per host', async () => {
    let fail = false;
    const fake = fakeApi({
      'hosts:list': () => [HOST, HOST2],
      'hosts:test': ({ id }) => {
        if (fail) throw apiError('root@192.168.1.10:22: connection refused (is sshd running on that port?)', 'refused');
        return { label: id, vmCount: 3 };
      },
    });
    const store = createAppStore(fake.api);
    await store.getState().loadHosts();
    await store.getState().testHost('h1');
    expect(store.getState().hostTests.h1).toEqual({ status: 'ok', label: 'h1', vmCount: 3 });
    fail = true;
    await store.getState().testHost('h2');
    expect(store.getState().hostTests.h2).toMatchObject({ status: 'error', kind: 'refused' });
    const h2 = store.getState().hostTests.h2;
    expect(h2?.status === 'error' ? h2.message : '').toMatch(/Connection refused/);
  });

  it('a changed host key anywhere raises the blocking screen', async () => {
    const message =
      'root@pve1:22: HOST KEY CHANGED: the server offered ssh-ed25519 SHA256:NEWnewNEW+/abc, but /data/known_hosts has SHA256:OLDold1, SHA256:OLDold2 for it. This may be an attack (man in the middle) or a reinstalled host; remove the old key only if you know why it changed.';
    const fake = fakeApi({
      'hosts:test': () => {
        throw apiError(message, 'host-key-changed');
      },
    });
    const store = createAppStore(fake.api);
    await store.getState().testHost('h1');
    expect(store.getState().hostKeyChanged).toEqual({ target: 'root@pve1:22', offered: 'SHA256:NEWnewNEW+/abc', known: ['SHA256:OLDold1', 'SHA256:OLDold2'], message });
    store.getState().acknowledgeHostKeyChanged();
    expect(store.getState().hostKeyChanged).toBeNull();
  });

  it('with exactly one host, picks it for the wizard and the leftovers scan', async () => {
    const store = createAppStore(fakeApi({ 'hosts:list': () => [HOST] }).api);
    await store.getState().loadHosts();
    expect(store.getState().wizard.hostId).toBe('h1');
    expect(store.getState().leftovers.hostId).toBe('h1');
  });

  it('queues host key prompts and answers through hostkey:answer', async () => {
    const fake = fakeApi({ 'hostkey:answer': () => undefined });
    const store = createAppStore(fake.api);
    store.getState().subscribeEvents();
    const prompt = { promptId: 'p1', host: 'pve1', port: 22, keyType: 'ssh-ed25519', fingerprint: 'SHA256:abc' };
    fake.emit('hostkey:prompt', prompt);
    fake.emit('hostkey:prompt', prompt);
    fake.emit('hostkey:prompt', { ...prompt, promptId: 'p2' });
    expect(store.getState().hostKeyPrompts.map((p) => p.promptId)).toEqual(['p1', 'p2']);
    await store.getState().answerHostKey('p1', false);
    expect(fake.requestsTo('hostkey:answer')).toEqual([{ promptId: 'p1', trust: false }]);
    expect(store.getState().hostKeyPrompts.map((p) => p.promptId)).toEqual(['p2']);
  });
});
