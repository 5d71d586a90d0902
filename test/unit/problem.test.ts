import { ServiceError, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure, RetryState } from '@temporalio/common';
import { toProblem } from '../../api/problem';
import { DomainError } from '../../lib/domain-error';

const PROBLEM_FIELDS = ['type', 'title', 'status', 'detail', 'code'];

describe('domain refusals', () => {
  it.each([
    ['SEAT_UNAVAILABLE', 409],
    ['INSUFFICIENT_BALANCE', 409],
    ['QUEUE_TOKEN_INVALID', 401],
    ['FORBIDDEN', 403],
    ['NOT_FOUND', 404],
    ['IDEMPOTENCY_KEY_REUSED', 422],
  ] as const)('%s keeps its code, answers %i and explains itself', (code, status) => {
    const problem = toProblem(new DomainError(code, 'why it was refused'));
    expect(problem).toMatchObject({ code, status, detail: 'why it was refused' });
    expect(Object.keys(problem).sort()).toEqual([...PROBLEM_FIELDS].sort());
  });
});

describe('refusals from a fan journey workflow', () => {
  const seatTaken = () => ApplicationFailure.create({ type: 'SEAT_UNAVAILABLE', message: 'seat 7 is held by someone else', nonRetryable: true });

  it('a failed update whose cause chain holds a SEAT_UNAVAILABLE application failure is 409 SEAT_UNAVAILABLE', () => {
    const activity = new ActivityFailure('activity failed', 'holdSeat', '1', RetryState.NON_RETRYABLE_FAILURE, 'worker@host', seatTaken());
    const problem = toProblem(new WorkflowUpdateFailedError('Workflow Update failed', activity));
    expect(problem).toMatchObject({ status: 409, code: 'SEAT_UNAVAILABLE', detail: 'seat 7 is held by someone else' });
  });

  it('the application failure directly under the update failure maps the same way', () => {
    expect(toProblem(new WorkflowUpdateFailedError('Workflow Update failed', seatTaken()))).toMatchObject({ status: 409, code: 'SEAT_UNAVAILABLE' });
  });

  it('HOLD_EXPIRED from the journey is 409 HOLD_EXPIRED', () => {
    const expired = ApplicationFailure.create({ type: 'HOLD_EXPIRED', message: 'the hold ended', nonRetryable: true });
    expect(toProblem(new WorkflowUpdateFailedError('Workflow Update failed', expired))).toMatchObject({ status: 409, code: 'HOLD_EXPIRED' });
  });

  it('an application failure of a type the API does not know is 500 INTERNAL, without its message', () => {
    const bug = ApplicationFailure.create({ type: 'TypeError', message: 'x is undefined in journey.ts' });
    const problem = toProblem(new WorkflowUpdateFailedError('Workflow Update failed', bug));
    expect(problem).toMatchObject({ status: 500, code: 'INTERNAL' });
    expect(problem.detail).not.toContain('journey.ts');
  });
});

describe('unexpected errors', () => {
  it('are 500 INTERNAL and never leak their message to the client', () => {
    const problem = toProblem(new Error('relation "wallets" lock held by pid 4242; secret=hunter2'));
    expect(problem).toMatchObject({ status: 500, code: 'INTERNAL' });
    expect(problem.detail).not.toMatch(/wallets|4242|hunter2/);
  });

  it('are 500 INTERNAL even when they are not Error objects', () => {
    expect(toProblem('a thrown string')).toMatchObject({ status: 500, code: 'INTERNAL' });
    expect(toProblem(undefined)).toMatchObject({ status: 500, code: 'INTERNAL' });
    expect(toProblem({ weird: true })).toMatchObject({ status: 500, code: 'INTERNAL' });
  });

  it('are 500 INTERNAL when a programming error merely mentions "unavailable"', () => {
    // A bug is not an outage: a client told 503 retries a request that can never succeed.
    const bug = new TypeError("Cannot read properties of undefined (reading 'unavailableSeats')");
    expect(toProblem(bug)).toMatchObject({ status: 500, code: 'INTERNAL' });
  });
});

describe('PostgreSQL being down', () => {
  const refused = (message: string) => Object.assign(new Error(message), { code: 'ECONNREFUSED', errno: -111, syscall: 'connect', address: '127.0.0.1', port: 5432 });

  it('a refused connection ("connect ECONNREFUSED") is 503 DEPENDENCY_UNAVAILABLE', () => {
    expect(toProblem(refused('connect ECONNREFUSED 127.0.0.1:5432'))).toMatchObject({ status: 503, code: 'DEPENDENCY_UNAVAILABLE' });
  });

  it('a refused connection recognised by its code alone is 503 DEPENDENCY_UNAVAILABLE', () => {
    expect(toProblem(refused('connection failed'))).toMatchObject({ status: 503, code: 'DEPENDENCY_UNAVAILABLE' });
  });

  it('a refused connection to a host with several addresses (Node’s AggregateError, empty message) is 503', () => {
    // What `net.connect` gives with autoSelectFamily (default since Node 20) when `localhost` resolves to
    // both ::1 and 127.0.0.1 and nothing listens: message '', code 'ECONNREFUSED', one error per address.
    const aggregate = Object.assign(
      new AggregateError([refused('connect ECONNREFUSED ::1:5432'), refused('connect ECONNREFUSED 127.0.0.1:5432')], ''),
      { code: 'ECONNREFUSED' },
    );
    expect(toProblem(aggregate)).toMatchObject({ status: 503, code: 'DEPENDENCY_UNAVAILABLE' });
  });

  it('a connection failure SQLSTATE (class 08) or an administrator shutdown (57P01) is 503', () => {
    expect(toProblem(Object.assign(new Error('connection failure'), { code: '08006' }))).toMatchObject({ status: 503, code: 'DEPENDENCY_UNAVAILABLE' });
    expect(toProblem(Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }))).toMatchObject({
      status: 503,
      code: 'DEPENDENCY_UNAVAILABLE',
    });
  });

  it('the pool giving up waiting for a connection is 503', () => {
    expect(toProblem(new Error('timeout exceeded when trying to connect'))).toMatchObject({ status: 503, code: 'DEPENDENCY_UNAVAILABLE' });
  });
});

describe('a fan journey that does not answer (seen in the chaos suites)', () => {
  const grpc = (code: number, message: string) => Object.assign(new Error(message), { code, details: message });

  it('an update whose request deadline passed is 503, and says the request may still take effect', () => {
    const late = new WorkflowUpdateRPCTimeoutOrCancelledError('Deadline exceeded after 9.98s', { cause: grpc(4, 'Deadline exceeded after 9.98s') });
    const problem = toProblem(late);
    expect(problem).toMatchObject({ status: 503, code: 'DEPENDENCY_UNAVAILABLE' });
    expect(problem.detail).toMatch(/may still take effect/);
  });

  it('an update refused while its workflow task is retried after a worker crash is 503, wrapped or raw', () => {
    const message = 'Unable to perform workflow execution update due to Workflow Task in failed state.';
    expect(toProblem(new ServiceError('Workflow Update failed', { cause: grpc(9, `9 FAILED_PRECONDITION: ${message}`) }))).toMatchObject({ status: 503, code: 'DEPENDENCY_UNAVAILABLE' });
    // Update-with-Start rethrows the operation's own gRPC status, numeric code and all.
    expect(toProblem(grpc(9, message))).toMatchObject({ status: 503, code: 'DEPENDENCY_UNAVAILABLE' });
  });

  it('another gRPC refusal with a numeric code is 500 INTERNAL, not mistaken for PostgreSQL', () => {
    expect(toProblem(grpc(3, 'invalid argument'))).toMatchObject({ status: 500, code: 'INTERNAL' });
  });
});
