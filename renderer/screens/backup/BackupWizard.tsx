import type { ReactNode } from 'react';
import { StepIndicator } from '../../components/StepIndicator';
import { useAppStore } from '../../store/context';
import type { WizardStep } from '../../store/wizard';
import { FleecingStep } from './FleecingStep';
import { HostStep } from './HostStep';
import { ReviewStep } from './ReviewStep';
import { TargetStep } from './TargetStep';
import { VmsStep } from './VmsStep';

const BODIES: Record<WizardStep, () => ReactNode> = {
  host: () => <HostStep />,
  vms: () => <VmsStep />,
  fleecing: () => <FleecingStep />,
  target: () => <TargetStep />,
  review: () => <ReviewStep />,
};

/** The backup wizard: host → VMs → fleecing → target → review → run. */
export function BackupWizard() {
  const step = useAppStore((s) => s.wizard.step);
  const plan = useAppStore((s) => s.wizard.plan);
  const starting = useAppStore((s) => s.wizard.starting);
  const next = useAppStore((s) => s.wizardNext);
  const back = useAppStore((s) => s.wizardBack);
  const goTo = useAppStore((s) => s.wizardGoTo);
  const start = useAppStore((s) => s.startBackup);
  return (
    <section className="screen" aria-labelledby="backup-title">
      <header className="screen-header">
        <h1 id="backup-title">Backup</h1>
      </header>
      <StepIndicator current={step} onGoTo={goTo} />
      <div className="panel wizard">{BODIES[step]()}</div>
      <div className="actions wizard-actions">
        {step !== 'host' && (
          <button type="button" onClick={back}>
            Back
          </button>
        )}
        {step === 'review' ? (
          <>
            {starting && <span role="status">Starting…</span>}
            <button type="button" className="primary" onClick={() => void start()} disabled={!plan || starting}>
              Start backup
            </button>
          </>
        ) : (
          <button type="button" className="primary" onClick={next}>
            Next
          </button>
        )}
      </div>
    </section>
  );
}
