/**
 * A stand-in for the platform behind axios in component tests (jsdom has no server): each
 * route answers from a table, and every request is recorded. The browser tests
 * (tests/e2e/test_ui_*.py) run the same UI against a real platform.
 */
import type { AxiosAdapter, AxiosRequestConfig, AxiosResponse, InternalAxiosRequestConfig } from 'axios';
import { AxiosError } from 'axios';
import { http } from '../api/client';

export type Answer = { status?: number; data: unknown } | ((config: AxiosRequestConfig) => { status?: number; data: unknown });

export interface FakeApi {
  requests: AxiosRequestConfig[];
  restore(): void;
}

export function fakeApi(routes: Record<string, Answer>): FakeApi {
  const requests: AxiosRequestConfig[] = [];
  const previous = http.defaults.adapter;
  const adapter: AxiosAdapter = async (config: InternalAxiosRequestConfig) => {
    requests.push(config);
    const key = `${(config.method ?? 'get').toUpperCase()} ${config.url}`;
    const route = routes[key];
    const answer = route === undefined ? { status: 404, data: { detail: `no fake for ${key}` } } : typeof route === 'function' ? route(config) : route;
    const status = answer.status ?? 200;
    const response: AxiosResponse = { data: answer.data, status, statusText: String(status), headers: {}, config };
    if (status >= 400) {
      throw new AxiosError(`Request failed with status code ${status}`, 'ERR_BAD_RESPONSE', config, null, response);
    }
    return response;
  };
  http.defaults.adapter = adapter;
  return { requests, restore: () => void (http.defaults.adapter = previous) };
}

export const ADMIN = {
  sub: '00000000-0000-0000-0000-000000000001',
  username: 'admin',
  name: 'Ada Admin',
  roles: ['admin', 'user'],
  is_admin: true,
  urn: 'urn:li:corpuser:admin',
  auth_method: 'session',
  groups: [],
};

export const ALICE = { ...ADMIN, sub: '00000000-0000-0000-0000-000000000002', username: 'alice', name: 'Alice', roles: ['user'], is_admin: false };
