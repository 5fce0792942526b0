import { cleanup, render } from '@testing-library/react';
import { afterEach } from 'vitest';
import { App } from '../../renderer/App';
import { StoreProvider } from '../../renderer/store/context';
import { createAppStore, type AppStore } from '../../renderer/store/index';
import type { FakeApi } from './fake-api';

afterEach(cleanup);

/** Renders the whole app on a fresh store wired to the fake API. */
export function renderApp(fake: FakeApi, prepare?: (store: AppStore) => void) {
  const store = createAppStore(fake.api);
  prepare?.(store);
  const view = render(
    <StoreProvider store={store}>
      <App />
    </StoreProvider>,
  );
  return { store, ...view };
}
