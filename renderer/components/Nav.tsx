import { useAppStore } from '../store/context';
import type { Screen } from '../store/nav';

const ITEMS: ReadonlyArray<{ screen: Screen; label: string }> = [
  { screen: 'hosts', label: 'Hosts' },
  { screen: 'backup', label: 'Backup' },
  { screen: 'runs', label: 'Runs' },
  { screen: 'leftovers', label: 'Leftovers' },
  { screen: 'history', label: 'History' },
];

/** The left navigation; the Run screen counts as "Runs". */
export function Nav() {
  const screen = useAppStore((s) => s.screen);
  const navigate = useAppStore((s) => s.navigate);
  const running = useAppStore((s) => Object.values(s.runs).filter((r) => r.state === 'running').length);
  const appInfo = useAppStore((s) => s.appInfo);
  const current = screen === 'run' ? 'runs' : screen;
  return (
    <nav className="sidebar" aria-label="Main">
      <div className="brand">
        <span className="brand-name">Shear</span>
        {appInfo && <span className="brand-version">v{appInfo.version}</span>}
      </div>
      <ul>
        {ITEMS.map((item) => (
          <li key={item.screen}>
            <button type="button" className="nav-item" aria-current={current === item.screen ? 'page' : undefined} onClick={() => navigate(item.screen)}>
              {item.label}
              {item.screen === 'runs' && running > 0 && (
                <span className="nav-count" aria-hidden="true" title={`${running} running`}>
                  {running}
                </span>
              )}
            </button>
          </li>
        ))}
      </ul>
    </nav>
  );
}
