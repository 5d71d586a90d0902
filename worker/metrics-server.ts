import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import type { Registry } from 'prom-client';

export interface MetricsAppOptions {
  registry: Registry;
  /**
   * Other Prometheus text endpoints served as part of this one (the SDK runtime's exporter on
   * localhost), so Prometheus scrapes one port per worker. Their metric names must not clash with
   * the registry's (ours are `ovation_*`, `process_*`, `nodejs_*`; the SDK's are `temporal_*`).
   */
  merge?: string[];
  /** How long to wait for a merged endpoint; default 2 s. */
  mergeTimeoutMs?: number;
  onMergeError?: (url: string, err: unknown) => void;
}

/** The worker's metrics endpoint: GET /metrics (Prometheus text format) and GET /healthz. */
export function createMetricsApp({ registry, merge = [], mergeTimeoutMs = 2_000, onMergeError }: MetricsAppOptions): Hono {
  const app = new Hono();
  const fetchText = async (url: string): Promise<string> => {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(mergeTimeoutMs) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      return await res.text();
    } catch (err) {
      onMergeError?.(url, err);
      // A comment line: the rest of the scrape stays valid, and the gap is visible to whoever curls.
      return `# ${url} unavailable: ${(err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ')}\n`;
    }
  };
  app.get('/metrics', async (c) => {
    const parts = await Promise.all([registry.metrics(), ...merge.map(fetchText)]);
    const body = parts.map((p) => (p.endsWith('\n') ? p : `${p}\n`)).join('');
    return c.body(body, 200, { 'Content-Type': registry.contentType });
  });
  app.get('/healthz', (c) => c.text('ok'));
  return app;
}

/** Listens on `hostname:port` (port 0: any free port); resolves once listening, with the port taken. */
export function serveMetrics(app: Hono, { port, hostname = '0.0.0.0' }: { port: number; hostname?: string }): Promise<{ server: ServerType; port: number }> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, port, hostname }, (info) => resolve({ server, port: info.port }));
    server.once('error', reject);
  });
}
