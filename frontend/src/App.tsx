/** The shell: app bar (user, role, theme, sign-out), navigation, and the code-split pages. */
import {
  AppBar,
  Box,
  Chip,
  Drawer,
  IconButton,
  List,
  ListItemButton,
  ListItemIcon,
  ListItemText,
  Toolbar,
  Tooltip,
  Typography,
  useMediaQuery,
  useTheme,
} from '@mui/material';
import AdminIcon from '@mui/icons-material/AdminPanelSettings';
import AppsIcon from '@mui/icons-material/Apps';
import CatalogIcon from '@mui/icons-material/Storage';
import ChatIcon from '@mui/icons-material/Chat';
import DarkIcon from '@mui/icons-material/DarkMode';
import DeployIcon from '@mui/icons-material/RocketLaunch';
import LightIcon from '@mui/icons-material/LightMode';
import LogoutIcon from '@mui/icons-material/Logout';
import MenuIcon from '@mui/icons-material/Menu';
import ModelsIcon from '@mui/icons-material/ModelTraining';
import VectorIcon from '@mui/icons-material/ScatterPlot';
import { Suspense, lazy, useState, type ReactNode } from 'react';
import { Navigate, NavLink, Route, Routes, useLocation } from 'react-router-dom';
import { isAdmin, useAuth } from './auth';
import { ErrorState, Loading, PageBoundary } from './components/states';
import { SignIn } from './pages/SignIn';
import { useColorMode } from './theme';

const Models = lazy(() => import('./pages/Models'));
const ModelDetail = lazy(() => import('./pages/ModelDetail'));
const Deployments = lazy(() => import('./pages/Deployments'));
const Chat = lazy(() => import('./pages/Chat'));
const Vectors = lazy(() => import('./pages/Vectors'));
const Catalog = lazy(() => import('./pages/Catalog'));
const Admin = lazy(() => import('./pages/Admin'));
const Apps = lazy(() => import('./pages/Apps'));

const DRAWER = 220;

export const NAV = [
  { to: '/models', label: 'Models', icon: <ModelsIcon /> },
  { to: '/deployments', label: 'Deployments', icon: <DeployIcon /> },
  { to: '/chat', label: 'Chat', icon: <ChatIcon /> },
  { to: '/vectors', label: 'Vector stores', icon: <VectorIcon /> },
  { to: '/catalog', label: 'Catalog', icon: <CatalogIcon /> },
  { to: '/apps', label: 'App Garden', icon: <AppsIcon /> },
  { to: '/admin', label: 'Admin', icon: <AdminIcon />, admin: true },
];

function Navigation({ onNavigate }: { onNavigate?: () => void }) {
  const { user } = useAuth();
  return (
    <List component="nav" aria-label="Pages">
      {NAV.filter(item => !item.admin || isAdmin(user)).map(item => (
        <ListItemButton
          key={item.to}
          component={NavLink}
          to={item.to}
          onClick={onNavigate}
          sx={{ '&.active': { bgcolor: 'action.selected' } }}
        >
          <ListItemIcon>{item.icon}</ListItemIcon>
          <ListItemText primary={item.label} />
        </ListItemButton>
      ))}
    </List>
  );
}

function Shell({ children }: { children: ReactNode }) {
  const { user, signOut } = useAuth();
  const { mode, toggle } = useColorMode();
  const theme = useTheme();
  const wide = useMediaQuery(theme.breakpoints.up('md'));
  const [open, setOpen] = useState(false);
  const role = isAdmin(user) ? 'admin' : 'user';
  return (
    <Box className="flex min-h-full">
      <AppBar position="fixed" sx={{ zIndex: t => t.zIndex.drawer + 1 }}>
        <Toolbar className="gap-2">
          {!wide && (
            <IconButton color="inherit" edge="start" aria-label="Open navigation" onClick={() => setOpen(true)}>
              <MenuIcon />
            </IconButton>
          )}
          <Typography variant="h6" component="div" className="grow">
            waza
          </Typography>
          <Tooltip title={mode === 'dark' ? 'Light theme' : 'Dark theme'}>
            <IconButton color="inherit" aria-label="Toggle light/dark theme" onClick={toggle}>
              {mode === 'dark' ? <LightIcon /> : <DarkIcon />}
            </IconButton>
          </Tooltip>
          <Typography component="span" data-testid="user-name" className="hidden sm:inline">
            {user?.name || user?.username}
          </Typography>
          <Chip size="small" label={role} data-testid="user-role" sx={{ color: 'inherit', borderColor: 'currentColor' }} variant="outlined" />
          <Tooltip title="Sign out">
            <IconButton color="inherit" aria-label="Sign out" onClick={() => void signOut()}>
              <LogoutIcon />
            </IconButton>
          </Tooltip>
        </Toolbar>
      </AppBar>
      <Drawer
        variant={wide ? 'permanent' : 'temporary'}
        open={wide || open}
        onClose={() => setOpen(false)}
        sx={{ width: wide ? DRAWER : undefined, flexShrink: 0, '& .MuiDrawer-paper': { width: DRAWER } }}
      >
        <Toolbar />
        <Navigation onNavigate={() => setOpen(false)} />
      </Drawer>
      <Box component="main" className="min-w-0 grow p-4 md:p-6">
        <Toolbar />
        {children}
      </Box>
    </Box>
  );
}

function AdminOnly({ children }: { children: ReactNode }) {
  const { user } = useAuth();
  return isAdmin(user) ? <>{children}</> : <ErrorState error="Error 403: the Admin pages are for administrators." />;
}

export function App() {
  const { user } = useAuth();
  const location = useLocation();
  if (user === undefined) {
    return <Loading label="Checking your session" />;
  }
  if (user === null) {
    return location.pathname === '/signin' ? <SignIn /> : <Navigate to="/signin" replace state={{ from: location.pathname + location.search }} />;
  }
  return (
    <Shell>
      <PageBoundary resetKey={location.pathname}>
      <Suspense fallback={<Loading />}>
        <Routes>
          <Route path="/" element={<Navigate to="/models" replace />} />
          <Route path="/signin" element={<Navigate to={(location.state as { from?: string } | null)?.from ?? '/models'} replace />} />
          <Route path="/models" element={<Models />} />
          <Route path="/models/:modelId" element={<ModelDetail />} />
          <Route path="/deployments" element={<Deployments />} />
          <Route path="/chat" element={<Chat />} />
          <Route path="/vectors" element={<Vectors />} />
          <Route path="/catalog" element={<Catalog />} />
          <Route path="/apps" element={<Apps />} />
          <Route
            path="/admin"
            element={
              <AdminOnly>
                <Admin />
              </AdminOnly>
            }
          />
          <Route path="*" element={<ErrorState error="Error 404: no such page." />} />
        </Routes>
      </Suspense>
      </PageBoundary>
    </Shell>
  );
}
