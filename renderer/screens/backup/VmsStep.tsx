import { ErrorMessage } from '../../components/ErrorMessage';
import { formatBytes } from '../../format';
import { useAppStore } from '../../store/context';
import { selectedFleecedBytes } from '../../store/wizard';
import { VmRow } from './VmRow';

/** Step 2: which VMs (several allowed). */
export function VmsStep() {
  const vms = useAppStore((s) => s.wizard.vms);
  const loading = useAppStore((s) => s.wizard.vmsLoading);
  const loadError = useAppStore((s) => s.wizard.vmsError);
  const selected = useAppStore((s) => s.wizard.selectedVmIds);
  const error = useAppStore((s) => s.wizard.errors.vms);
  const totalBytes = useAppStore((s) => selectedFleecedBytes(s.wizard));
  const toggleVm = useAppStore((s) => s.toggleVm);
  const loadVms = useAppStore((s) => s.loadVms);
  return (
    <div className="step-body">
      <div className="row-between">
        <h2>VMs</h2>
        <button type="button" onClick={() => void loadVms()} disabled={loading}>
          Reload
        </button>
      </div>
      {loading && <p role="status">Loading VMs…</p>}
      <ErrorMessage message={loadError} />
      {vms && vms.length === 0 && <p className="empty">No running VMs on this host.</p>}
      {vms && vms.length > 0 && (
        <table className="table" aria-label="Virtual machines">
          <thead>
            <tr>
              <th scope="col">ID</th>
              <th scope="col">Name</th>
              <th scope="col">State</th>
              <th scope="col">Disks</th>
            </tr>
          </thead>
          <tbody>
            {vms.map((vm) => (
              <VmRow key={vm.id} vm={vm} selected={selected.includes(vm.id)} onToggle={(on) => toggleVm(vm.id, on)} />
            ))}
          </tbody>
        </table>
      )}
      {selected.length > 0 && (
        <p className="hint">
          {selected.length} selected · {formatBytes(totalBytes)} of data disks
        </p>
      )}
      <ErrorMessage message={error} />
    </div>
  );
}
