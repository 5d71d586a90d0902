import net, { type AddressInfo } from 'node:net';
import { ServiceError, WorkflowNotFoundError, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure, RetryState, TimeoutFailure, TimeoutType } from '@temporalio/common';
import Redis from 'ioredis';
import { isTransient, toProblem } from '../../api/problem';
import { classifyTemporal, Grpc } from '../../lib/temporal-errors';
import { uuidV5, requestScopedId } from '../../api/use-cases/request-ids';

/** A gRPC status as @grpc/grpc-js builds it: numeric code, string details. */
const grpc = (code: number, details: string) => Object.assign(new Error(`${code} ${details}`), { code, details, metadata: {} });

describe('Temporal failures by class and gRPC code, never by message', () => {
  it('RESOURCE_EXHAUSTED (too many updates in flight, namespace RPS) is 429 RATE_LIMITED, transient, wrapped or raw', () => {
    for (const err of [new ServiceError('Workflow Update failed', { cause: grpc(Grpc.RESOURCE_EXHAUSTED, 'limit') }), grpc(Grpc.RESOURCE_EXHAUSTED, 'limit')]) {
      const problem = toProblem(err);
      expect(problem).toMatchObject({ status: 429, code: 'RATE_LIMITED' });
      expect(isTransient(problem)).toBe(true);
    }
  });

  it('the request deadline passing is an unknown outcome: 503 telling the client to retry with the same key', () => {
    const err = new WorkflowUpdateRPCTimeoutOrCancelledError('timeout', { cause: grpc(Grpc.DEADLINE_EXCEEDED, 'deadline') });
    expect(classifyTemporal(err)).toEqual({ kind: 'outcome-unknown' });
    expect(toProblem(err)).toMatchObject({ status: 503, code: 'DEPENDENCY_UNAVAILABLE', detail: expect.stringMatching(/Idempotency-Key/) });
  });

  it('an update that failed because a step inside the journey timed out is an unknown outcome (503), not a 500', () => {
    const timeout = new TimeoutFailure('timed out', undefined, TimeoutType.SCHEDULE_TO_CLOSE);
    const activity = new ActivityFailure('activity failed', 'holdSeat', '1', RetryState.TIMEOUT, 'worker', timeout);
    const err = new WorkflowUpdateFailedError('Workflow Update failed', activity);
    expect(classifyTemporal(err)).toEqual({ kind: 'outcome-unknown' });
    expect(toProblem(err)).toMatchObject({ status: 503 });
  });

  it('a business refusal in the update failure chain keeps its code', () => {
    const refusal = ApplicationFailure.create({ type: 'PAYMENT_IN_PROGRESS', message: 'another payment is in flight', nonRetryable: true });
    expect(toProblem(new WorkflowUpdateFailedError('Workflow Update failed', refusal))).toMatchObject({ status: 409, code: 'PAYMENT_IN_PROGRESS' });
  });

  it('a journey that has ended: not found (class or raw code 5), or an accepted update outlived by its workflow', () => {
    const outlived = ApplicationFailure.create({ type: 'AcceptedUpdateCompletedWorkflow', message: 'Workflow Update failed because the Workflow completed before the Update completed.' });
    for (const err of [
      new WorkflowNotFoundError('workflow execution already completed', 'journey-1', undefined),
      grpc(Grpc.NOT_FOUND, 'workflow execution already completed'),
      new WorkflowUpdateFailedError('Workflow Update failed', outlived),
    ]) {
      expect(classifyTemporal(err)).toEqual({ kind: 'journey-closed' });
      expect(toProblem(err)).toMatchObject({ status: 403, code: 'QUEUE_TOKEN_NOT_ACTIVE' });
    }
  });

  it('an update aborted while its workflow continues as new (UNAVAILABLE, ABORTED) is a 503 to retry, not "journey ended" (review L10)', () => {
    for (const code of [Grpc.UNAVAILABLE, Grpc.ABORTED]) {
      const err = new ServiceError('Workflow Update failed', { cause: grpc(code, 'workflow update was aborted') });
      expect(classifyTemporal(err)).toEqual({ kind: 'unavailable' });
      expect(toProblem(err)).toMatchObject({ status: 503, code: 'DEPENDENCY_UNAVAILABLE' });
    }
  });

  it('an update the server dropped unprocessed (a burst past the cap of 10 in flight) is a 503 to retry, not a 500 (issue 23)', () => {
    const dropped = ApplicationFailure.create({ type: 'UnprocessedUpdate', nonRetryable: true, message: "Workflow Update is rejected because it wasn't processed by worker." });
    const err = new WorkflowUpdateFailedError('Workflow Update failed', dropped);
    expect(classifyTemporal(err)).toEqual({ kind: 'unavailable' });
    expect(toProblem(err)).toMatchObject({ status: 503, code: 'DEPENDENCY_UNAVAILABLE' });
  });

  it('a gRPC code the API does not expect is 500 INTERNAL', () => {
    expect(classifyTemporal(grpc(3, 'invalid argument'))).toBeUndefined();
    expect(toProblem(grpc(3, 'invalid argument'))).toMatchObject({ status: 500, code: 'INTERNAL' });
  });
});

describe('ioredis failures, provoked from the real library (an upgrade that rewords them fails here)', () => {
  let closedPort: number;
  beforeAll(async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closedPort = (server.address() as AddressInfo).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('a command on a client that cannot reach Redis (no offline queue, as lib/redis.ts) is 503', async () => {
    const redis = new Redis({ port: closedPort, host: '127.0.0.1', enableOfflineQueue: false, lazyConnect: true, retryStrategy: () => null });
    const err = await redis.get('k').catch((e: unknown) => e);
    expect(toProblem(err)).toMatchObject({ status: 503, code: 'DEPENDENCY_UNAVAILABLE', detail: 'Redis is unavailable' });
    redis.disconnect();
  });

  it('a command on a client that was closed is 503', async () => {
    const redis = new Redis({ port: closedPort, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null });
    redis.disconnect();
    const err = await redis.get('k').catch((e: unknown) => e);
    expect(toProblem(err)).toMatchObject({ status: 503, code: 'DEPENDENCY_UNAVAILABLE' });
  });

  it('a command that out-waits its commandTimeout is 503', async () => {
    // A server that accepts the connection and never answers.
    const sockets: net.Socket[] = [];
    const silent = net.createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const redis = new Redis({ port: (silent.address() as AddressInfo).port, host: '127.0.0.1', commandTimeout: 50, retryStrategy: () => null, enableReadyCheck: false });
    redis.on('error', () => undefined);
    const err = await redis.get('k').catch((e: unknown) => e);
    expect(toProblem(err)).toMatchObject({ status: 503, code: 'DEPENDENCY_UNAVAILABLE' });
    redis.disconnect();
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  }, 10_000);
});

describe('request-scoped ids', () => {
  it('are RFC 9562 UUIDv5 (the RFC’s own example: www.example.com in the DNS namespace)', () => {
    expect(uuidV5('www.example.com', '6ba7b810-9dad-11d1-80b4-00c04fd430c8')).toBe('2ed6657d-e927-568b-95e1-2665a8aea6a2');
  });

  it('with a key: the same for the same user, endpoint and key, different when any of them differs', () => {
    const id = requestScopedId('u1', 'POST /payments', 'k');
    expect(requestScopedId('u1', 'POST /payments', 'k')).toBe(id);
    expect(new Set([id, requestScopedId('u2', 'POST /payments', 'k'), requestScopedId('u1', 'POST /reservations', 'k'), requestScopedId('u1', 'POST /payments', 'k2')]).size).toBe(4);
  });

  it('without a key: a new id per request (a retry without a key is a new request)', () => {
    expect(requestScopedId('u1', 'POST /payments', undefined)).not.toBe(requestScopedId('u1', 'POST /payments', undefined));
  });
});
