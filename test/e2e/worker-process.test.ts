import { once } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { freePort, ServiceProcess } from '../support/processes';

/**
 * A worker asked to stop while it is still starting stops at once and says so: until it runs it holds
 * no task. Ctrl-C in `npm start` reaches every process of the terminal together, and the Temporal
 * server could go first; the worker then went on starting and failed on the closed connection
 * ("worker failed: TransportError"), exit 1.
 */
const sockets: Socket[] = [];
/** A Temporal address that takes the worker's connection and never answers: the worker waits in its start. */
const silentTemporal = createServer((socket) => sockets.push(socket));

beforeAll(async () => {
  silentTemporal.listen(0, '127.0.0.1');
  await once(silentTemporal, 'listening');
});
afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  silentTemporal.close();
});

it.each(['SIGINT', 'SIGTERM'] as const)('a worker sent %s while it starts exits 0 at once, as a stop', async (signal) => {
  const connected = once(silentTemporal, 'connection');
  const worker = new ServiceProcess('worker', 'worker/main.ts', {
    TEMPORAL_ADDRESS: `127.0.0.1:${(silentTemporal.address() as AddressInfo).port}`,
    LOG_LEVEL: 'info',
    WORKER_METRICS_PORT: String(await freePort()),
    WORKER_SDK_METRICS_ADDRESS: `127.0.0.1:${await freePort()}`,
  });
  try {
    await connected; // it is past its database and Redis, connecting to Temporal
    const exited = once(worker.proc, 'exit');
    worker.proc.kill(signal);
    const [code] = await exited;
    expect({ code, log: worker.log }).toEqual({ code: 0, log: expect.stringContaining(`worker stopped by ${signal} before it ran`) });
    expect(worker.log).not.toContain('worker failed');
  } finally {
    await worker.stop('SIGKILL');
  }
});
