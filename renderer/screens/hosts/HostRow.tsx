import { useState } from 'react';
import type { Host } from '../../../shared/contract';
import { useAppStore } from '../../store/context';
import { hostAddressLabel } from '../../store/hosts';
import { HostTestResult } from './HostTestResult';

const AUTH_LABEL: Record<Host['authKind'], string> = { agent: 'SSH agent', key: 'Key file', password: 'Password' };

/** One saved host: its address, auth, test result and actions. */
export function HostRow({ host, onEdit }: { host: Host; onEdit: () => void }) {
  const test = useAppStore((s) => s.hostTests[host.id]);
  const testHost = useAppStore((s) => s.testHost);
  const removeHost = useAppStore((s) => s.removeHost);
  const [confirming, setConfirming] = useState(false);
  return (
    <tr data-host-id={host.id}>
      <th scope="row">{host.name}</th>
      <td className="mono">{hostAddressLabel(host)}</td>
      <td>
        {AUTH_LABEL[host.authKind]}
        {host.authKind === 'key' && host.privateKeyPath && <div className="hint mono">{host.privateKeyPath}</div>}
      </td>
      <td>
        <HostTestResult test={test} />
      </td>
      <td>
        <div className="row-actions">
          <button type="button" onClick={() => void testHost(host.id)} disabled={test?.status === 'testing'}>
            Test connection
          </button>
          <button type="button" onClick={onEdit}>
            Edit
          </button>
          {confirming ? (
            <>
              <button type="button" className="danger" onClick={() => void removeHost(host.id)}>
                Confirm remove
              </button>
              <button type="button" onClick={() => setConfirming(false)}>
                Keep
              </button>
            </>
          ) : (
            <button type="button" onClick={() => setConfirming(true)}>
              Remove
            </button>
          )}
        </div>
      </td>
    </tr>
  );
}
