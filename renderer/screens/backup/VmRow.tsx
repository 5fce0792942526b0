import type { VmDetails } from '../../../shared/model';
import { formatBytes } from '../../format';

const ROLE_NOTE: Record<string, string> = { efivars: 'UEFI vars, copied directly', tpmstate: 'TPM state, copied directly' };

/** One VM with its selection checkbox (named by the VM id). */
export function VmRow({ vm, selected, onToggle }: { vm: VmDetails; selected: boolean; onToggle: (selected: boolean) => void }) {
  return (
    <tr className={selected ? 'selected' : undefined} data-vm-id={vm.id}>
      <td>
        <label className="check">
          <input type="checkbox" checked={selected} disabled={vm.inspectError !== undefined && !selected} onChange={(e) => onToggle(e.target.checked)} />
          <span className="mono">{vm.id}</span>
        </label>
      </td>
      <td>{vm.name}</td>
      <td>
        <span className={`runstate runstate-${vm.runState}`}>{vm.runState}</span>
      </td>
      <td>
        {vm.inspectError !== undefined && <div className="error small" role="note">cannot be inspected: {vm.inspectError}</div>}
        {(vm.skipped ?? []).map((sk) => (
          <div key={sk.device} className="muted small">
            <span className="mono">{sk.device}</span> not backed up: {sk.reason}
          </div>
        ))}
        <ul className="disk-list">
          {vm.disks.map((d) => (
            <li key={d.device}>
              <span className="mono">{d.device}</span> {formatBytes(d.sizeBytes)} <span className="muted">({d.format})</span>
              {ROLE_NOTE[d.role] && <span className="muted"> · {ROLE_NOTE[d.role]}</span>}
            </li>
          ))}
        </ul>
      </td>
    </tr>
  );
}
