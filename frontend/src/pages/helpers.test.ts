import { describe, expect, it } from 'vitest';
import { deployBody } from '../components/DeployDialog';
import { formatBytes } from '../components/format';
import { appName } from './Apps';
import { parseFields } from './Catalog';
import { downloadSummary, matches } from './Models';

describe('deployBody', () => {
  it('builds the request from the form', () => {
    expect(deployBody('m', { engine: 'transformers', replicas: '2', cpu: '0.5', gpu: '' })).toEqual({
      m_id: 'm',
      engine_name: 'transformers',
      min_copies: 2,
      starting_copies: 2,
      cpu_allocation: 0.5,
    });
    expect(deployBody('m', { engine: '', replicas: '1', cpu: '', gpu: '0' })).toMatchObject({ gpu_allocation: 0, force_cpu: true });
  });
  it('refuses values out of range', () => {
    expect(deployBody('m', { engine: '', replicas: '0', cpu: '', gpu: '' })).toMatch(/Replicas/);
    expect(deployBody('m', { engine: '', replicas: '1.5', cpu: '', gpu: '' })).toMatch(/Replicas/);
    expect(deployBody('m', { engine: '', replicas: '1', cpu: '-1', gpu: '' })).toMatch(/CPUs/);
    expect(deployBody('m', { engine: '', replicas: '1', cpu: '', gpu: 'x' })).toMatch(/GPUs/);
  });
});

describe('download progress', () => {
  const file = { id: 'f', m_id: 'm', name: 'a', download: true, is_downloading: true, size: 100, downloaded_bytes: 25 };
  it('sums files', () => {
    expect(downloadSummary([file, { ...file, downloaded_bytes: 75 }])).toMatchObject({ bytes: 100, total: 200, fraction: 0.5, state: 'downloading' });
  });
  it('reports a failure', () => {
    expect(downloadSummary([{ ...file, is_downloading: false, download_error: 'offline' }])).toMatchObject({ state: 'failed', error: 'offline' });
  });
  it('tells a cancelled download from a finished one', () => {
    const stopped = { ...file, is_downloading: false, download: false, download_cancelled_at: '2026-01-01T00:00:00Z' };
    expect(downloadSummary([stopped])).toMatchObject({ state: 'cancelled' });
    expect(downloadSummary([{ ...file, is_downloading: false, downloaded_bytes: 100 }])).toMatchObject({ state: 'done', fraction: 1 });
  });
});

describe('small helpers', () => {
  it('matches models on name, repo and purpose', () => {
    const model = { name: 'tiny-chat', repo_modelId: 'org/Tiny', purpose: 'chat' } as never;
    expect(matches(model, 'ORG/t')).toBe(true);
    expect(matches(model, 'embed')).toBe(false);
    expect(matches(model, '  ')).toBe(true);
  });
  it('parses schema lines', () => {
    expect(parseFields('id:int\n\n name \nprice: double')).toEqual([
      { name: 'id', type: 'int' },
      { name: 'name', type: 'string' },
      { name: 'price', type: 'double' },
    ]);
  });
  it('names app deployments after the template', () => {
    expect(appName({ name: 'Chat App!' } as never)).toMatch(/^chat-app-[a-z0-9]+$/);
  });
  it('formats sizes', () => {
    expect(formatBytes(1536)).toBe('1.5 KB');
    expect(formatBytes(null)).toBe('—');
  });
});
