import { useEffect, type ReactNode } from 'react';
import { HostKeyChangedScreen } from './components/HostKeyChangedScreen';
import { HostKeyDialog } from './components/HostKeyDialog';
import { Nav } from './components/Nav';
import { Notice } from './components/Notice';
import { BackupWizard } from './screens/backup/BackupWizard';
import { HistoryScreen } from './screens/HistoryScreen';
import { HostsScreen } from './screens/hosts/HostsScreen';
import { LeftoversScreen } from './screens/leftovers/LeftoversScreen';
import { RunScreen } from './screens/run/RunScreen';
import { RunsScreen } from './screens/RunsScreen';
import { useAppStore } from './store/context';
import type { Screen } from './store/nav';

const SCREENS: Record<Screen, () => ReactNode> = {
  hosts: () => <HostsScreen />,
  backup: () => <BackupWizard />,
  runs: () => <RunsScreen />,
  run: () => <RunScreen />,
  leftovers: () => <LeftoversScreen />,
  history: () => <HistoryScreen />,
};

/** The shell: navigation, the current screen, and the modal host key questions and alerts. */
export function App() {
  const screen = useAppStore((s) => s.screen);
  const subscribeEvents = useAppStore((s) => s.subscribeEvents);
  const loadInitial = useAppStore((s) => s.loadInitial);
  const blocked = useAppStore((s) => s.hostKeyChanged !== null || s.hostKeyPrompts.length > 0);

  useEffect(() => subscribeEvents(), [subscribeEvents]);
  useEffect(() => {
    void loadInitial();
  }, [loadInitial]);

  return (
    <>
      <div className="shell" inert={blocked}>
        <Nav />
        <main className="content">
          <Notice />
          {SCREENS[screen]()}
        </main>
      </div>
      <HostKeyDialog />
      <HostKeyChangedScreen />
    </>
  );
}
