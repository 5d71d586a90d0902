/** The `http` ceiling's server: a bare Hono hello-world on @hono/node-server, in its own process. */
import { serve } from '@hono/node-server';
import { Hono } from 'hono';

const app = new Hono();
app.get('/', (c) => c.text('Hello, World!'));

const server = serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 3199), hostname: '127.0.0.1' });
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
