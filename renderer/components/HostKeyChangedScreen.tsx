import { useAppStore } from '../store/context';

/**
 * A host's key differs from the trusted one: possibly a man in the middle.
 * Blocks the whole app (role="alertdialog") until acknowledged.
 */
export function HostKeyChangedScreen() {
  const change = useAppStore((s) => s.hostKeyChanged);
  const acknowledge = useAppStore((s) => s.acknowledgeHostKeyChanged);
  if (!change) return null;
  return (
    <div className="overlay overlay-danger">
      <div className="dialog dialog-danger" role="alertdialog" aria-modal="true" aria-labelledby="hostkey-changed-title" aria-describedby="hostkey-changed-desc">
        <h2 id="hostkey-changed-title">Host key changed</h2>
        <p id="hostkey-changed-desc">
          {change.target ? <strong>{change.target}</strong> : 'The host'} now offers a different host key than the one Shear trusted. This may be an attack (someone between you and
          the host) or a reinstalled host. Shear refused to connect.
        </p>
        <dl className="facts">
          <dt>Offered now</dt>
          <dd>
            <code className="fingerprint" data-testid="hostkey-offered">
              {change.offered ?? 'unknown'}
            </code>
          </dd>
          <dt>Trusted before</dt>
          <dd>
            {change.known.length > 0
              ? change.known.map((fp) => (
                  <code key={fp} className="fingerprint" data-testid="hostkey-known">
                    {fp}
                  </code>
                ))
              : 'unknown'}
          </dd>
        </dl>
        <details>
          <summary>Full message</summary>
          <p className="mono">{change.message}</p>
        </details>
        <p>Only if you know why the key changed, remove the old key from Shear&apos;s known_hosts file and connect again.</p>
        <div className="actions">
          <button type="button" className="danger" autoFocus onClick={acknowledge}>
            Acknowledge
          </button>
        </div>
      </div>
    </div>
  );
}
