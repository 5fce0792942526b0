import { HostSelect } from '../../components/HostSelect';
import { useAppStore } from '../../store/context';

/** Step 1: which host. */
export function HostStep() {
  const hostId = useAppStore((s) => s.wizard.hostId);
  const error = useAppStore((s) => s.wizard.errors.host);
  const hasHosts = useAppStore((s) => s.hosts.length > 0);
  const setHost = useAppStore((s) => s.setWizardHost);
  const navigate = useAppStore((s) => s.navigate);
  return (
    <div className="step-body">
      <h2>Host</h2>
      {hasHosts ? (
        <HostSelect value={hostId} onChange={setHost} error={error} />
      ) : (
        <>
          <p className="empty">There are no hosts yet.</p>
          <button type="button" onClick={() => navigate('hosts')}>
            Go to Hosts
          </button>
          {error && (
            <p role="alert" className="error">
              {error}
            </p>
          )}
        </>
      )}
    </div>
  );
}
