/// <reference types="vitest/config" />
import react from '@vitejs/plugin-react';
import tailwindcss from '@tailwindcss/vite';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// The build goes where the platform serves it from (`waza.webui`, mounted at /ui/) and ships
// in the wheel. `npm run dev` proxies the API of a local `waza api` (WAZA_DEV_API).
const outDir = fileURLToPath(new URL('../platform/waza/webui/static', import.meta.url));
const api = process.env.WAZA_DEV_API ?? 'http://127.0.0.1:7777';

export default defineConfig({
  base: '/ui/',
  plugins: [react(), tailwindcss()],
  build: {
    outDir,
    emptyOutDir: true,
    chunkSizeWarningLimit: 700,
    rolldownOptions: {
      output: {
        // the libraries every page uses, in one long-cached chunk
        codeSplitting: {
          groups: [{ name: 'vendor', test: /node_modules[\\/](react|react-dom|react-router|react-router-dom|scheduler|@emotion|@mui[\\/](material|system|utils|styled-engine|private-theming|core-downloads-tracker)|axios)[\\/]/ }],
        },
      },
    },
  },
  server: { proxy: { '/api': api, '/runtime': api } },
  test: {
    environment: 'jsdom',
    setupFiles: ['./src/test/setup.ts'],
    include: ['src/**/*.test.{ts,tsx}'],
    css: false,
  },
});
