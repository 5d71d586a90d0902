import { randomUUID } from 'node:crypto';
import { findViolations } from '../../db/invariants';
import { ApiClient, type Answer, type Fan } from '../support/api-client';
import { eventually } from '../support/eventually';
import { serviceEnv, startApi, startWorker, type ServiceProcess } from '../support/processes';
import { journeysThatDoNotReplay } from '../support/replay';
import { QUICK_ADMISSION, startStack, type Stack } from '../support/stack';

/**
 * Crashes: the worker, then the API, killed with SIGKILL again and again while fans hold, pay,
 * cancel and abandon seats. Nothing gets to clean up: activities die half-way, requests are cut off
 * mid-flight. Fans behave like careful clients (the same Idempotency-Key on a retry, reading back
 * what a 503 or a cut connection left unknown). Afterwards every hold has ended paid or released,
 * no wallet was debited twice, no refund was lost, and the invariants hold.
 *
 * API and worker run as processes (test/support/processes.ts) against the run's PostgreSQL, Redis
 * and Temporal dev server, on a task queue of their own.
 */
const PRICE = 10_000;
const FANS = 16;
/** Kills per test: "several times". Each one lands on a wave of fans in the middle of their stories. */
const CRASHES = 4;

type Role = 'pay' | 'cancel' | 'abandon';
/** Half the fans pay; the others cancel or walk away, so that their holds expire (timers after restarts). */
const withExpiries = (i: number): Role => (i % 4 === 2 ? 'cancel' : i % 4 === 3 ? 'abandon' : 'pay');
/** Half pay, half cancel: an API crash touches no timer, and waiting for expiries would only cost time. */
const withoutExpiries = (i: number): Role => (i % 4 < 2 ? 'pay' : 'cancel');

let stack: Stack; // the database and a Temporal client; API and worker are processes
beforeAll(async () => {
  stack = await startStack({}, { worker: false });
});
afterAll(async () => {
  if (stack) expect(await findViolations(stack.db)).toEqual([]);
  await stack?.stop();
});

function processEnv(holdTtlSeconds: number): Record<string, string> {
  return serviceEnv(stack.config, {
    TEMPORAL_TASK_QUEUE: `crash-${randomUUID()}`,
    ...QUICK_ADMISSION,
    HOLD_TTL_SECONDS: String(holdTtlSeconds),
    HOLD_GRACE_SECONDS: '1',
  });
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/**
 * How long one step of a fan's story may take to reach a definite outcome through the crashes. The
 * longest wait seen is a hold whose request died after the API closed the seat's gate and before
 * it reached the journey: the gate stays closed until its deadline + grace (here 61 s).
 */
const STORY_BOUND_MS = 120_000;

/**
 * The fans' HTTP client: a request the API never answered (refused while it is down, or cut off by
 * its death) is sent again, identically (same Idempotency-Key), to the API that runs now. Counts
 * both, and knows what is in flight since when, so a killer can strike in the middle of a request.
 */
class CrashTolerantHttp {
  refused = 0;
  cutOff: string[] = [];
  private readonly inFlight = new Set<{ what: string; since: number }>();

  constructor(private readonly url: () => string) {}

  async request(path: string, init?: RequestInit): Promise<Response> {
    const what = `${init?.method ?? 'GET'} ${path.split('?')[0].replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, ':id')}`;
    const giveUpAt = Date.now() + 60_000;
    for (;;) {
      const call = { what, since: Date.now() };
      this.inFlight.add(call);
      try {
        // Longer than any answer may take: the API's Temporal deadline, or an idempotency key left
        // unfinished by a killed API, which a retry takes over 30 s after its first claim.
        return await fetch(`${this.url()}${path}`, { ...init, signal: AbortSignal.timeout(60_000) });
      } catch (err) {
        const cause = (err as { cause?: { code?: string } }).cause?.code;
        if (cause === 'ECONNREFUSED') this.refused += 1;
        else if (cause === 'UND_ERR_SOCKET' || cause === 'ECONNRESET') this.cutOff.push(what);
        else throw err; // a timeout or anything else is a failure, not a crash to ride out
        if (Date.now() > giveUpAt) throw new Error(`${what}: no API answered for 60 s`, { cause: err });
        await pause(100);
      } finally {
        this.inFlight.delete(call);
      }
    }
  }

  /** True while a `what` request has been waiting for its answer for at least `ms`. */
  inFlightFor(what: string, ms: number): boolean {
    return [...this.inFlight].some((call) => call.what === what && Date.now() - call.since >= ms);
  }
}

/** Every answer the fans got, for the assertions and the report. */
class Answers {
  readonly all: Array<{ what: string; status: number; code?: string }> = [];
  note(what: string, answer: Answer): Answer {
    this.all.push({ what, status: answer.status, code: answer.body?.code });
    return answer;
  }
  unexpected(): string[] {
    return this.all.filter((a) => a.status >= 500 && a.status !== 503).map((a) => `${a.what} ${a.status} ${a.code}`);
  }
  summary(): string {
    const counts = new Map<string, number>();
    for (const a of this.all) counts.set(`${a.status}${a.code ? ` ${a.code}` : ''}`, (counts.get(`${a.status}${a.code ? ` ${a.code}` : ''}`) ?? 0) + 1);
    return [...counts].map(([k, n]) => `${n}× ${k}`).join(', ');
  }
}

interface Admitted {
  fan: Fan;
  queueToken: string;
}

/** One fan's story, retried through crashes until it has a definite outcome. */
async function fanStory(api: ApiClient, answers: Answers, { fan, queueToken }: Admitted, scheduleId: string, seat: number, role: Role) {
  const reservationId = await holdSeat(api, answers, fan, queueToken, scheduleId, seat);
  if (role === 'pay') return { reservationId, outcome: await paySeat(api, answers, fan, queueToken, reservationId) };
  if (role === 'cancel') return { reservationId, outcome: await cancelHold(api, answers, fan, reservationId) };
  return { reservationId, outcome: 'ABANDONED' as const };
}

async function holdSeat(api: ApiClient, answers: Answers, fan: Fan, queueToken: string, scheduleId: string, seat: number): Promise<string> {
  let key = randomUUID();
  const giveUpAt = Date.now() + STORY_BOUND_MS;
  while (Date.now() < giveUpAt) {
    const answer = answers.note('hold', await api.hold(fan, queueToken, scheduleId, seat, { 'idempotency-key': key }));
    if (answer.status === 201) return answer.body.reservationId;
    if (answer.status !== 503 && answer.body?.code !== 'SEAT_UNAVAILABLE') throw new Error(`hold: ${answer.status} ${JSON.stringify(answer.body)}`);
    // Unanswered, or the seat is taken: by this fan's own earlier try, once it lands. Read it back.
    const held = answers.note('read', await api.call('GET', '/reservations?status=HELD', { fan }));
    const landed = held.body?.items?.find((r: { scheduleId: string; seatNumber: number }) => r.scheduleId === scheduleId && r.seatNumber === seat);
    if (landed) return landed.reservationId;
    if (answer.status === 409) key = randomUUID(); // a final answer for that key: the next try is a new request
    await pause(500);
  }
  throw new Error(`fan ${fan.userId} could not hold seat ${seat}`);
}

async function paySeat(api: ApiClient, answers: Answers, fan: Fan, queueToken: string, reservationId: string): Promise<'PAID' | 'EXPIRED'> {
  let key = randomUUID();
  const giveUpAt = Date.now() + STORY_BOUND_MS;
  while (Date.now() < giveUpAt) {
    const answer = answers.note('pay', await api.pay(fan, queueToken, reservationId, { 'idempotency-key': key }));
    if (answer.status === 201) return 'PAID';
    // 503: unanswered; 409: being paid, or paid, or expired; 403: the session ended, perhaps paid.
    if (![503, 409, 403].includes(answer.status)) throw new Error(`pay: ${answer.status} ${JSON.stringify(answer.body)}`);
    const now = answers.note('read', await api.call('GET', `/reservations/${reservationId}`, { fan }));
    if (now.body?.status === 'CONFIRMED') return 'PAID';
    if (now.body?.status === 'EXPIRED') return 'EXPIRED';
    if (answer.status !== 503) key = randomUUID();
    await pause(300);
  }
  throw new Error(`fan ${fan.userId} could not settle the payment of ${reservationId}`);
}

async function cancelHold(api: ApiClient, answers: Answers, fan: Fan, reservationId: string): Promise<'CANCELLED' | 'EXPIRED'> {
  const giveUpAt = Date.now() + STORY_BOUND_MS;
  while (Date.now() < giveUpAt) {
    const answer = answers.note('cancel', await api.call('DELETE', `/reservations/${reservationId}`, { fan }));
    if (answer.status === 200) return 'CANCELLED';
    if (answer.status !== 503 && answer.status !== 409) throw new Error(`cancel: ${answer.status} ${JSON.stringify(answer.body)}`);
    const now = answers.note('read', await api.call('GET', `/reservations/${reservationId}`, { fan }));
    if (now.body?.status === 'CANCELLED' || now.body?.status === 'EXPIRED') return now.body.status;
    await pause(300);
  }
  throw new Error(`fan ${fan.userId} could not cancel ${reservationId}`);
}

/**
 * What the books say about one fan after the crashes: reservations by status, the ledger's net
 * debit, completed payments, and payments still in flight.
 */
async function books(userId: string) {
  const [row] = await stack.db.query(
    `SELECT
       (SELECT balance::int FROM wallets WHERE user_id = $1) AS balance,
       (SELECT COALESCE(sum(CASE type WHEN 'PAYMENT' THEN amount WHEN 'REFUND' THEN -amount ELSE 0 END), 0)::int
          FROM wallet_transactions WHERE user_id = $1) AS "netDebit",
       (SELECT count(*)::int FROM payments WHERE user_id = $1 AND status = 'COMPLETED') AS completed,
       (SELECT count(*)::int FROM payments WHERE user_id = $1 AND status = 'PENDING') AS pending,
       (SELECT count(*)::int FROM reservations WHERE user_id = $1 AND status = 'CONFIRMED') AS confirmed,
       (SELECT count(*)::int FROM reservations WHERE user_id = $1 AND status = 'HELD') AS held`,
    [userId],
  );
  return row as { balance: number; netDebit: number; completed: number; pending: number; confirmed: number; held: number };
}

/**
 * The storm: fans hold their own seat and pay it, cancel it or walk away. They come in waves, one
 * per crash: each wave starts its stories, then `strike` kills the process (at its own moment: a
 * random one, or while a request is in flight) and restarts it, while the earlier waves' stories go
 * on through it. Once every story has an outcome and the system has settled (timers released what
 * was abandoned), the books are checked fan by fan.
 */
async function stormAndCheck(api: ApiClient, answers: Answers, roleOf: (fan: number) => Role, strike: () => Promise<void>, holdTtlSeconds: number) {
  const { concertId, scheduleIds } = await api.createConcert(FANS, PRICE);
  const fans = await Promise.all(Array.from({ length: FANS }, (_, i) => api.admittedFan(concertId, `crash-${i}`)));
  await Promise.all(fans.map(({ fan }) => api.charge(fan, 2 * PRICE))); // room for a double debit to show

  const stories: Array<Promise<{ outcome: string }>> = [];
  const perWave = FANS / CRASHES;
  for (let wave = 0; wave < CRASHES; wave++) {
    for (let i = wave * perWave; i < (wave + 1) * perWave; i++) stories.push(fanStory(api, answers, fans[i], scheduleIds[0], i + 1, roleOf(i)));
    await strike();
  }
  const outcomes = await Promise.all(stories);

  // Every hold ends paid or released: the abandoned ones by their timers, after the last restart.
  await eventually(
    async () => {
      const open = await stack.db.query(`SELECT count(*)::int AS n FROM reservations WHERE concert_id = $1 AND status = 'HELD'`, [concertId]);
      expect(open[0].n).toBe(0);
    },
    { timeoutMs: (holdTtlSeconds + 60) * 1000, intervalMs: 500 },
  );
  // And every journey's history replays: the next worker to rebuild one can carry it on.
  expect(await journeysThatDoNotReplay(stack.temporal, concertId, FANS)).toEqual([]);
  for (const [i, { fan }] of fans.entries()) {
    const { outcome } = outcomes[i];
    const mine = await books(fan.userId);
    const paid = outcome === 'PAID' ? 1 : 0;
    // Debited once for a seat sold, never for anything else; nothing still in flight.
    expect({ fan: i, outcome, ...mine }).toEqual({ fan: i, outcome, balance: 2 * PRICE - paid * PRICE, netDebit: paid * PRICE, completed: paid, pending: 0, confirmed: paid, held: 0 });
  }
  const [seats] = await stack.db.query(
    `SELECT count(*) FILTER (WHERE status = 'SOLD')::int AS sold, count(*) FILTER (WHERE status = 'AVAILABLE')::int AS available FROM seats WHERE schedule_id = $1`,
    [scheduleIds[0]],
  );
  const paidCount = outcomes.filter((o) => o.outcome === 'PAID').length;
  expect(seats).toEqual({ sold: paidCount, available: FANS - paidCount }); // released seats are on sale again
  expect(answers.unexpected()).toEqual([]);
  expect(await findViolations(stack.db)).toEqual([]);
  return outcomes.map((o) => o.outcome);
}

describe('the worker killed with SIGKILL and restarted during a hold and payment storm', () => {
  const HOLD_TTL_SECONDS = 20;
  let env: Record<string, string>;
  let worker: ServiceProcess;
  let api: ServiceProcess;
  let client: ApiClient;

  beforeAll(async () => {
    env = processEnv(HOLD_TTL_SECONDS);
    let url: string;
    [worker, { api, url }] = await Promise.all([startWorker(env), startApi(env)]);
    client = new ApiClient(new CrashTolerantHttp(() => url), stack.config);
  }, 120_000);
  afterAll(async () => {
    await Promise.all([api?.stop(), worker?.stop()]);
  });

  it('every hold ends paid or released, no double debit, no lost refund', async () => {
    const answers = new Answers();
    let kills = 0;
    let restartMs = 0;
    const outcomes = await stormAndCheck(
      client,
      answers,
      withExpiries,
      async () => {
        await pause(500 + Math.random() * 1500); // a random moment in the wave's holds, debits and confirms
        await worker.stop('SIGKILL');
        kills += 1;
        const started = Date.now();
        worker = await startWorker(env);
        restartMs += Date.now() - started;
      },
      HOLD_TTL_SECONDS,
    );
    expect(kills).toBe(CRASHES);
    // A payment the crashes delayed past its hold's deadline is refused and costs nothing (checked
    // above); most go through.
    const payers = outcomes.filter((_, i) => withExpiries(i) === 'pay');
    expect(payers.filter((o) => o !== 'PAID' && o !== 'EXPIRED')).toEqual([]);
    expect(payers.filter((o) => o === 'PAID').length).toBeGreaterThanOrEqual(payers.length / 2);
    console.log(`worker crashes: ${kills} SIGKILLs survived (back in ${Math.round(restartMs / kills)} ms on average); outcomes: ${count(outcomes)}; answers: ${answers.summary()}`);
  }, 240_000);
});

describe('the API killed with SIGKILL mid-request and restarted during a hold and payment storm', () => {
  // Long enough for a retry of a request cut off mid-flight: it waits 30 s for the dead API's claim
  // on its Idempotency-Key to lapse, and the hold must still be payable then.
  const HOLD_TTL_SECONDS = 60;
  let env: Record<string, string>;
  let worker: ServiceProcess;
  let api: ServiceProcess;
  let url: string;
  let http: CrashTolerantHttp;
  let client: ApiClient;

  beforeAll(async () => {
    env = processEnv(HOLD_TTL_SECONDS);
    [worker, { api, url }] = await Promise.all([startWorker(env), startApi(env)]);
    http = new CrashTolerantHttp(() => url);
    client = new ApiClient(http, stack.config);
  }, 120_000);
  afterAll(async () => {
    await Promise.all([api?.stop(), worker?.stop()]);
  });

  it('every hold ends paid or released, no double debit, no lost refund', async () => {
    const answers = new Answers();
    let kills = 0;
    const outcomes = await stormAndCheck(
      client,
      answers,
      withoutExpiries,
      async () => {
        // Mid-request: a payment 50 ms in, past its Idempotency-Key's claim and into its saga.
        await eventually(async () => expect(http.inFlightFor('POST /payments', 50)).toBe(true), { timeoutMs: 30_000, intervalMs: 5 });
        await api.stop('SIGKILL');
        kills += 1;
        ({ api, url } = await startApi(env));
      },
      HOLD_TTL_SECONDS,
    );
    expect(kills).toBe(CRASHES);
    expect(http.cutOff).toContain('POST /payments');
    expect(outcomes.filter((o, i) => withoutExpiries(i) === 'pay' && o !== 'PAID')).toEqual([]);
    expect(worker.proc.exitCode).toBeNull();
    console.log(
      `API crashes: ${kills} SIGKILLs survived; ${http.cutOff.length} requests cut off mid-flight (${count(http.cutOff)}) and ${http.refused} refused while it was down, ` +
        `all retried; outcomes: ${count(outcomes)}; answers: ${answers.summary()}`,
    );
  }, 240_000);
});

function count(values: string[]): string {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts].map(([k, n]) => `${n} ${k}`).join(', ');
}
