import type { HostTest } from '../../store/hosts';

/** The outcome of "Test connection". */
export function HostTestResult({ test }: { test: HostTest | undefined }) {
  if (!test) return <span className="muted">Not tested</span>;
  if (test.status === 'testing') return <span role="status">Testing…</span>;
  if (test.status === 'ok') {
    return (
      <span role="status" className="ok">
        Connected: {test.vmCount} {test.vmCount === 1 ? 'VM' : 'VMs'} running
      </span>
    );
  }
  return (
    <span role="alert" className="error" data-kind={test.kind}>
      {test.message}
    </span>
  );
}
