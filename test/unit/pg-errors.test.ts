import net, { type AddressInfo } from 'node:net';
import { Client } from 'pg';
import { isConnectionError } from '../../db/pg-errors';
import { toProblem } from '../../api/problem';

/** node-postgres failures provoked from the real library: a reworded message in an upgrade fails here. */
describe('PostgreSQL connection failures, from the real driver', () => {
  it('a server that closes the connection mid-handshake: "Connection terminated unexpectedly" is 503', async () => {
    const server = net.createServer((socket) => socket.once('data', () => socket.destroy()));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = new Client({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, user: 'x', database: 'x' });
    const err = await client.connect().catch((e: unknown) => e);
    expect(isConnectionError(err)).toBe(true);
    expect(toProblem(err)).toMatchObject({ status: 503, code: 'DEPENDENCY_UNAVAILABLE', detail: 'PostgreSQL is unavailable' });
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('a query on a client that was closed is 503', async () => {
    const client = new Client({ host: '127.0.0.1', port: 1, user: 'x', database: 'x' });
    await client.connect().catch(() => undefined);
    const err = await client.query('SELECT 1').catch((e: unknown) => e);
    expect(isConnectionError(err)).toBe(true);
  });

  it('an error that merely mentions a connection is not one', () => {
    expect(isConnectionError(new Error('Connection terminated unexpectedly while parsing the seat map'))).toBe(false);
  });
});
