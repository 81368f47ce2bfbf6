import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { BrowserRouter } from 'react-router-dom';
import { App } from './App';
import { AuthProvider } from './auth';
import './index.css';
import { WazaTheme } from './theme';

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <WazaTheme>
      <BrowserRouter basename="/ui">
        <AuthProvider>
          <App />
        </AuthProvider>
      </BrowserRouter>
    </WazaTheme>
  </StrictMode>,
);
