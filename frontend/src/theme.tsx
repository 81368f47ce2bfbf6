/** Light/dark themes (Material-UI), the choice kept in localStorage; the system's by default. */
import { CssBaseline, ThemeProvider, createTheme, useMediaQuery } from '@mui/material';
import { createContext, useContext, useMemo, useState, type ReactNode } from 'react';

type Mode = 'light' | 'dark';
const KEY = 'waza-ui-mode';

const ModeContext = createContext<{ mode: Mode; toggle(): void }>({ mode: 'light', toggle: () => undefined });

function stored(): Mode | null {
  try {
    const value = localStorage.getItem(KEY);
    return value === 'light' || value === 'dark' ? value : null;
  } catch {
    return null;
  }
}

export function WazaTheme({ children }: { children: ReactNode }) {
  const prefersDark = useMediaQuery('(prefers-color-scheme: dark)');
  // the system's "reduce motion" setting: no transitions, no ripples (WCAG 2.3.3)
  const reduceMotion = useMediaQuery('(prefers-reduced-motion: reduce)');
  const [choice, setChoice] = useState<Mode | null>(stored);
  const mode: Mode = choice ?? (prefersDark ? 'dark' : 'light');
  const theme = useMemo(
    () =>
      createTheme({
        palette: { mode, primary: { main: mode === 'dark' ? '#7ab8ff' : '#1f5fae' } },
        shape: { borderRadius: 8 },
        ...(reduceMotion
          ? {
              transitions: { create: () => 'none' },
              components: { MuiButtonBase: { defaultProps: { disableRipple: true } } },
            }
          : {}),
      }),
    [mode, reduceMotion],
  );
  const value = useMemo(
    () => ({
      mode,
      toggle: () => {
        const next: Mode = mode === 'dark' ? 'light' : 'dark';
        try {
          localStorage.setItem(KEY, next);
        } catch {
          // private mode: the choice lasts for this page only
        }
        setChoice(next);
      },
    }),
    [mode],
  );
  return (
    <ModeContext.Provider value={value}>
      <ThemeProvider theme={theme}>
        <CssBaseline />
        {children}
      </ThemeProvider>
    </ModeContext.Provider>
  );
}

export function useColorMode() {
  return useContext(ModeContext);
}
