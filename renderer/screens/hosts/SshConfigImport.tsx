import { useEffect } from 'react';
import { ErrorMessage } from '../../components/ErrorMessage';
import { useAppStore } from '../../store/context';
import { sshConfigToForm, type HostForm } from '../../store/hosts';

/** The hosts of ~/.ssh/config; "Use" opens the add form pre-filled with one. */
export function SshConfigImport({ onUse }: { onUse: (form: HostForm) => void }) {
  const entries = useAppStore((s) => s.sshConfigHosts);
  const error = useAppStore((s) => s.sshConfigError);
  const load = useAppStore((s) => s.loadSshConfigHosts);
  useEffect(() => {
    void load();
  }, [load]);
  return (
    <section className="panel" aria-label="Hosts in ~/.ssh/config">
      <h2>Hosts in ~/.ssh/config</h2>
      <ErrorMessage message={error} />
      {entries === null && !error && <p className="muted">Reading ~/.ssh/config…</p>}
      {entries?.length === 0 && <p className="empty">No concrete hosts in ~/.ssh/config (patterns with * are skipped).</p>}
      {entries && entries.length > 0 && (
        <ul className="plain-list">
          {entries.map((e) => (
            <li key={e.alias} className="row-between">
              <span>
                <strong>{e.alias}</strong>{' '}
                <span className="mono muted">
                  {e.user}@{e.host}:{e.port}
                  {e.jumps.length > 0 ? ` via ${e.jumps.join(', ')}` : ''}
                  {e.identityFile ? ` · ${e.identityFile}` : ''}
                </span>
              </span>
              <button type="button" onClick={() => onUse(sshConfigToForm(e))} aria-label={`Use ${e.alias}`}>
                Use
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
