import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Hono } from 'hono';

/**
 * Swagger UI served from the `swagger-ui-dist` package, offline: no CDN is reachable from where this
 * runs, and none should be needed. Only the files the page loads are exposed, read once.
 */
export function swaggerUi(specUrl: string): Hono {
  const dist = dirname(require.resolve('swagger-ui-dist/package.json'));
  const assets: Record<string, { body: Buffer; type: string }> = {};
  for (const [file, type] of [
    ['swagger-ui.css', 'text/css; charset=utf-8'],
    ['swagger-ui-bundle.js', 'text/javascript; charset=utf-8'],
    ['favicon-32x32.png', 'image/png'],
  ] as const) {
    assets[file] = { body: readFileSync(join(dist, file)), type };
  }
  const page = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Ovation API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css"><link rel="icon" href="/docs/favicon-32x32.png"></head>
<body><div id="swagger-ui"></div><script src="/docs/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({ url: ${JSON.stringify(specUrl)}, dom_id: '#swagger-ui' });</script></body></html>`;

  const app = new Hono();
  app.get('/docs', (c) => c.html(page));
  app.get('/docs/:file', (c) => {
    const asset = assets[c.req.param('file')];
    if (!asset) return c.notFound();
    return c.body(new Uint8Array(asset.body), 200, { 'Content-Type': asset.type, 'Cache-Control': 'public, max-age=86400' });
  });
  return app;
}
