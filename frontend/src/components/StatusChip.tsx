import { Chip, type ChipProps } from '@mui/material';

const COLORS: Record<string, ChipProps['color']> = {
  DEPLOYED: 'success',
  RUNNING: 'success',
  FAILED: 'error',
  ERROR: 'error',
  STOPPED: 'default',
  STOPPING: 'warning',
  REQUESTED: 'info',
  DEPLOYING: 'info',
  INITIALIZING: 'info',
  PULLING: 'info',
  STARTING: 'info',
};

/** A deployment's or app's status as a colored chip. */
export function StatusChip({ status }: { status: string }) {
  return <Chip size="small" label={status} color={COLORS[status] ?? 'default'} className="waza-status" data-status={status} />;
}
