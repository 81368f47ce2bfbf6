/** The platform login (`POST /api/auth/token`); the session cookie signs every later call. */
import { Alert, Box, Button, Card, CardContent, TextField, Typography } from '@mui/material';
import { useState } from 'react';
import { useAuth } from '../auth';
import { useSubmit } from '../components/states';

export function SignIn() {
  const { signIn, notice } = useAuth();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const { error, busy, submit } = useSubmit(() => signIn(username.trim(), password));

  return (
    <Box component="main" className="flex min-h-full items-center justify-center p-4">
      <Card className="w-full max-w-sm" variant="outlined">
        <CardContent>
          <Typography variant="h5" component="h1" className="pb-4">
            Sign in to waza
          </Typography>
          {notice && !error ? (
            <Alert severity="info" className="mb-3">
              {notice}
            </Alert>
          ) : null}
          {error ? (
            <Alert severity="error" className="waza-error mb-3" role="alert">
              {error}
            </Alert>
          ) : null}
          <form onSubmit={submit} className="flex flex-col gap-3" aria-label="Sign in">
            <TextField
              label="Username"
              name="username"
              autoComplete="username"
              autoFocus
              required
              value={username}
              onChange={e => setUsername(e.target.value)}
            />
            <TextField
              label="Password"
              name="password"
              type="password"
              autoComplete="current-password"
              required
              value={password}
              onChange={e => setPassword(e.target.value)}
            />
            <Button type="submit" variant="contained" disabled={busy || !username || !password}>
              {busy ? 'Signing in…' : 'Sign in'}
            </Button>
          </form>
        </CardContent>
      </Card>
    </Box>
  );
}
