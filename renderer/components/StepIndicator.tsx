import { WIZARD_STEPS, stepIndex, type WizardStep } from '../store/wizard';

/** The wizard's steps; done steps are buttons back to them, the current one is aria-current="step". */
export function StepIndicator({ current, onGoTo }: { current: WizardStep; onGoTo: (step: WizardStep) => void }) {
  const currentIndex = stepIndex(current);
  return (
    <ol className="steps" aria-label="Backup steps">
      {WIZARD_STEPS.map((s, i) => {
        const state = i < currentIndex ? 'done' : i === currentIndex ? 'current' : 'todo';
        return (
          <li key={s.id} className={`step step-${state}`} aria-current={state === 'current' ? 'step' : undefined}>
            <span className="step-number" aria-hidden="true">
              {i + 1}
            </span>
            {state === 'done' ? (
              <button type="button" className="link" onClick={() => onGoTo(s.id)}>
                {s.label}
              </button>
            ) : (
              <span>{s.label}</span>
            )}
          </li>
        );
      })}
    </ol>
  );
}
