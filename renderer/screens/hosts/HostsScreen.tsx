import { useState } from 'react';
import { ErrorMessage } from '../../components/ErrorMessage';
import { useAppStore } from '../../store/context';
import type { HostForm as HostFormData } from '../../store/hosts';
import { HostForm } from './HostForm';
import { SecretStorageSetting } from './SecretStorageSetting';
import { SshConfigImport } from './SshConfigImport';
import { HostRow } from './HostRow';

type Editing = { mode: 'closed' } | { mode: 'add'; key: number; initial?: HostFormData } | { mode: 'edit'; id: string };

/** Saved hosts: add, edit, remove, test the connection. */
export function HostsScreen() {
  const hosts = useAppStore((s) => s.hosts);
  const loaded = useAppStore((s) => s.hostsLoaded);
  const error = useAppStore((s) => s.hostsError);
  const [editing, setEditing] = useState<Editing>({ mode: 'closed' });
  const editedHost = editing.mode === 'edit' ? (hosts.find((h) => h.id === editing.id) ?? null) : null;
  const close = () => setEditing({ mode: 'closed' });
  const [importing, setImporting] = useState(false);

  return (
    <section className="screen" aria-labelledby="hosts-title">
      <header className="screen-header">
        <h1 id="hosts-title">Hosts</h1>
        <div className="button-row">
          <button type="button" onClick={() => setImporting((v) => !v)} aria-expanded={importing}>
            Import from ~/.ssh/config
          </button>
          <button type="button" className="primary" onClick={() => setEditing({ mode: 'add', key: Date.now() })}>
            Add host
          </button>
        </div>
      </header>
      <p className="lede">The hypervisor hosts Shear logs in to over SSH. A new host&apos;s key is shown for you to trust the first time Shear connects.</p>
      <ErrorMessage message={error} />
      {importing && (
        <SshConfigImport
          onUse={(initial) => {
            setImporting(false);
            setEditing({ mode: 'add', key: Date.now(), initial });
          }}
        />
      )}
      {editing.mode === 'add' && <HostForm key={editing.key} host={null} {...(editing.initial ? { initial: editing.initial } : {})} onDone={close} />}
      {editing.mode === 'edit' && editedHost && <HostForm key={editedHost.id} host={editedHost} onDone={close} />}
      {loaded && hosts.length === 0 ? (
        <p className="empty">No hosts yet. Add one to get started.</p>
      ) : (
        <table className="table" aria-label="Hosts">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Address</th>
              <th scope="col">Authentication</th>
              <th scope="col">Connection</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {hosts.map((h) => (
              <HostRow key={h.id} host={h} onEdit={() => setEditing({ mode: 'edit', id: h.id })} />
            ))}
          </tbody>
        </table>
      )}
      <SecretStorageSetting />
    </section>
  );
}
