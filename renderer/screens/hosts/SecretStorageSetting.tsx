import { useEffect } from 'react';
import { ErrorMessage } from '../../components/ErrorMessage';
import { useAppStore } from '../../store/context';

/**
 * Where passwords and key passphrases go. The desktop app encrypts them with the
 * system keyring; without one (a bare Linux desktop) Electron can only obscure
 * them ("basic_text"), which Shear refuses unless the user agrees here.
 */
export function SecretStorageSetting() {
  const settings = useAppStore((s) => s.settings);
  const error = useAppStore((s) => s.settingsError);
  const load = useAppStore((s) => s.loadSettings);
  const setAllow = useAppStore((s) => s.setAllowBasicTextSecrets);
  useEffect(() => {
    void load();
  }, [load]);
  if (!settings) return <ErrorMessage message={error} />;
  return (
    <section className="panel" aria-label="Secret storage">
      <label className="checkbox">
        <input type="checkbox" checked={settings.allowBasicTextSecrets} onChange={(e) => void setAllow(e.target.checked)} />
        Allow storing passwords and passphrases without a system keyring (basic_text, not really encrypted)
      </label>
      <p className="muted">Prefer ssh-agent or a key without a passphrase on desktops without a keyring.</p>
      <ErrorMessage message={error} />
    </section>
  );
}
