/** Deploy a model: engine, replicas, CPUs and GPUs per replica (fractions allowed). */
import {
  Alert,
  Button,
  Dialog,
  DialogActions,
  DialogContent,
  DialogTitle,
  MenuItem,
  TextField,
} from '@mui/material';
import { useState, type FormEvent } from 'react';
import { call, describeError, type Schemas } from '../api/client';

export const ENGINES = ['', 'transformers', 'llamacpp', 'vllm', 'embedding'];

export interface DeployForm {
  engine: string;
  replicas: string;
  cpu: string;
  gpu: string;
}

/** The deploy request for the form's values; a message when a value is out of range. */
export function deployBody(modelId: string, form: DeployForm): Schemas['CreateModelDeployment'] | string {
  const replicas = Number(form.replicas || '1');
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > 64) {
    return 'Replicas: a whole number from 1 to 64';
  }
  const body: Schemas['CreateModelDeployment'] = { m_id: modelId, min_copies: replicas, starting_copies: replicas };
  if (form.engine) {
    body.engine_name = form.engine;
  }
  if (form.cpu.trim()) {
    const cpu = Number(form.cpu);
    if (!(cpu > 0 && cpu <= 256)) {
      return 'CPUs per replica: more than 0, at most 256';
    }
    body.cpu_allocation = cpu;
  }
  if (form.gpu.trim()) {
    const gpu = Number(form.gpu);
    if (!(gpu >= 0 && gpu <= 64)) {
      return 'GPUs per replica: 0 to 64 (fractions share a card)';
    }
    body.gpu_allocation = gpu;
    if (gpu === 0) {
      body.force_cpu = true;
    }
  }
  return body;
}

export function DeployDialog({
  model,
  open,
  onClose,
  onDeployed,
}: {
  model: { id: string; name: string } | null;
  open: boolean;
  onClose: () => void;
  onDeployed: (deploymentId: string) => void;
}) {
  const [form, setForm] = useState<DeployForm>({ engine: '', replicas: '1', cpu: '', gpu: '' });
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const set = (key: keyof DeployForm) => (e: { target: { value: string } }) => setForm({ ...form, [key]: e.target.value });

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!model) {
      return;
    }
    const body = deployBody(model.id, form);
    if (typeof body === 'string') {
      setError(body);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const id = await call('post', '/api/serving/deploy_model', { body });
      onDeployed(id);
    } catch (caught) {
      setError(describeError(caught)); // e.g. the no-fit reason: what is missing, where
    } finally {
      setBusy(false);
    }
  };

  return (
    <Dialog open={open} onClose={onClose} fullWidth maxWidth="xs">
      <form onSubmit={submit} aria-label="Deploy model" className="waza-deploy-form">
        <DialogTitle>Deploy {model?.name}</DialogTitle>
        <DialogContent className="flex flex-col gap-3" sx={{ pt: '8px !important' }}>
          {error ? (
            <Alert severity="error" className="waza-error" role="alert">
              {error}
            </Alert>
          ) : null}
          <TextField select label="Engine" name="engine" value={form.engine} onChange={set('engine')} helperText="Automatic picks by the model's format">
            {ENGINES.map(engine => (
              <MenuItem key={engine || 'auto'} value={engine}>
                {engine || 'automatic'}
              </MenuItem>
            ))}
          </TextField>
          <TextField label="Replicas" name="replicas" type="number" value={form.replicas} onChange={set('replicas')} slotProps={{ htmlInput: { min: 1, max: 64 } }} />
          <TextField label="CPUs per replica" name="cpu" value={form.cpu} onChange={set('cpu')} placeholder="default" inputMode="decimal" />
          <TextField label="GPUs per replica" name="gpu" value={form.gpu} onChange={set('gpu')} placeholder="default" inputMode="decimal" helperText="0.5 shares a card; 0 runs on CPU" />
        </DialogContent>
        <DialogActions>
          <Button onClick={onClose}>Cancel</Button>
          <Button type="submit" variant="contained" disabled={busy || !model}>
            {busy ? 'Deploying…' : 'Deploy'}
          </Button>
        </DialogActions>
      </form>
    </Dialog>
  );
}
