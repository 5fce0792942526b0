import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { shearApi } from './api';
import { App } from './App';
import { StoreProvider } from './store/context';
import { createAppStore } from './store/index';
import './styles.css';

const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root element');
const store = createAppStore(shearApi);
createRoot(root).render(
  <StrictMode>
    <StoreProvider store={store}>
      <App />
    </StoreProvider>
  </StrictMode>,
);
