import { useAppStore } from '../store/context';
import { currentHostKeyPrompt } from '../store/hostKey';

/**
 * First use of a host: the engine asks whether to trust its key. Modal
 * (role="dialog", named "New host key"); answers with hostkey:answer.
 */
export function HostKeyDialog() {
  const prompt = useAppStore(currentHostKeyPrompt);
  const waiting = useAppStore((s) => s.hostKeyPrompts.length - 1);
  const answer = useAppStore((s) => s.answerHostKey);
  if (!prompt) return null;
  return (
    <div className="overlay">
      <div className="dialog" role="dialog" aria-modal="true" aria-labelledby="hostkey-title" aria-describedby="hostkey-desc">
        <h2 id="hostkey-title">New host key</h2>
        <p id="hostkey-desc">
          Shear has never connected to <strong>{`${prompt.host}:${prompt.port}`}</strong> before. Compare this fingerprint with the host&apos;s own (on the host:{' '}
          <code>ssh-keygen -lf /etc/ssh/ssh_host_{prompt.keyType.replace(/^ssh-/, '')}_key.pub</code>) before you trust it.
        </p>
        <dl className="facts">
          <dt>Host</dt>
          <dd data-testid="hostkey-host">{`${prompt.host}:${prompt.port}`}</dd>
          <dt>Key type</dt>
          <dd data-testid="hostkey-type">{prompt.keyType}</dd>
          <dt>Fingerprint</dt>
          <dd>
            <code className="fingerprint" data-testid="hostkey-fingerprint">
              {prompt.fingerprint}
            </code>
          </dd>
        </dl>
        {waiting > 0 && <p className="hint">{waiting} more host key question(s) waiting.</p>}
        <div className="actions">
          <button type="button" autoFocus onClick={() => void answer(prompt.promptId, false)}>
            Reject
          </button>
          <button type="button" className="primary" onClick={() => void answer(prompt.promptId, true)}>
            Trust
          </button>
        </div>
      </div>
    </div>
  );
}
