/**
 * One load generator process of the rush: an OPEN arrival model. Fan number i arrives at i ÷ rate
 * seconds whatever the API is doing (autocannon and the closed loops of bench/lib/load.ts wait for an
 * answer before the next request, which hides an overloaded server), joins the queue, polls
 * `GET /queue-tokens/current` exactly when its `Retry-After` says, and once ACTIVE lists the seats,
 * holds one (another from the same page on a 409) and pays. Latencies count from when a request was
 * due (its arrival, or the end of its Retry-After), so time spent waiting for a connection of this
 * generator, or for the generator itself, is in them: no coordinated omission.
 *
 * Started by bench/scenarios/rush.ts with an IPC channel: `setup` (its fans), `ready`, `go` (the
 * shared start instant), and at the end `done` with every sample.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { retryAfterSeconds } from '../../queue/poll-interval';
import { headerOf, RawPool } from '../lib/raw-http';
import { signAccessToken } from '../lib/users';
import { ABORTED, OPS, SampleLog, UNSENT, type FromGenerator, type GeneratorResult, type GeneratorSecond, type GeneratorTask, type Op, type ToGenerator } from './protocol';

class RunOver extends Error {}

/** Fans whose arrival time has come but who are not launched yet: they wait as an index, not as objects. */
interface Arrivals {
  /** The next one's due time, if it has come by `now`. */
  nextDue(now: number): number | undefined;
  launch(): void;
}

/**
 * A pool of raw keep-alive connections (bench/lib/raw-http.ts: undici's request path was most of this
 * generator's CPU, on the cores the API under test runs on) with its own queue of requests waiting
 * for a connection, served in the order they fell due, arrivals included (so the end can drop what
 * never went out).
 */
class Lane {
  inFlight = 0;
  arrivals?: Arrivals;
  private readonly waiting: Array<{ due: number; go: () => void; drop: (err: Error) => void }> = [];
  private closed = false;

  constructor(
    readonly pool: RawPool,
    private readonly connections: number,
  ) {}

  get queued(): number {
    return this.waiting.length;
  }

  /** A connection is free and nobody waits for one. */
  get idle(): boolean {
    return this.waiting.length === 0 && this.inFlight < this.connections;
  }

  acquire(due: number): Promise<void> {
    if (this.closed) return Promise.reject(new RunOver());
    if (this.inFlight < this.connections) {
      this.inFlight++;
      return Promise.resolve();
    }
    return new Promise((go, drop) => this.waiting.push({ due, go, drop }));
  }

  /** The freed connection goes to whoever fell due first: the oldest waiting request or the next arrival. */
  release(): void {
    this.inFlight--;
    if (this.closed) return;
    const head = this.waiting[0];
    const arrival = this.arrivals?.nextDue(performance.now());
    if (arrival !== undefined && (!head || arrival < head.due)) {
      this.arrivals!.launch(); // its acquire takes the connection at once
    } else if (head) {
      this.waiting.shift();
      this.inFlight++;
      head.go();
    }
  }

  /** No more requests go out; those still waiting for a connection are dropped. */
  close(): void {
    this.closed = true;
    for (const w of this.waiting.splice(0)) w.drop(new RunOver());
  }
}

interface Answer {
  status: number;
  body: any;
  retryAfter?: number;
}

async function run(task: GeneratorTask, tokens: string[], startAt: number): Promise<GeneratorResult> {
  // performance.now() of the shared start instant; every time below is relative to it.
  const t0 = performance.now() + (startAt - Date.now());
  const since = (t: number) => (t - t0) / 1000;
  const stopAt = t0 + task.stopAfterSeconds * 1000;
  let aborted = false;
  const waitingLane = new Lane(new RawPool(task.apiUrl), task.connections.waiting);
  const bookingLane = new Lane(new RawPool(task.apiUrl), task.connections.booking);

  const logs = Object.fromEntries(OPS.map((op) => [op, new SampleLog()])) as Record<Op, SampleLog>;
  const outcomes = Object.fromEntries(OPS.map((op) => [op, {} as Record<string, number>])) as Record<Op, Record<string, number>>;
  const endings: Record<string, number> = {};
  const admittedAt: number[] = [];
  const count = (into: Record<string, number>, key: string): void => void (into[key] = (into[key] ?? 0) + 1);
  const end = (how: string): void => count(endings, how);

  const call = async (laneOf: Lane, op: Op, due: number, method: string, path: string, headers: Record<string, string>, body?: string): Promise<Answer | undefined> => {
    if (performance.now() >= stopAt) return undefined; // the run is over before this fan's next step
    try {
      await laneOf.acquire(due);
    } catch {
      count(outcomes[op], UNSENT);
      logs[op].add(since(due), NaN, NaN, 0);
      return undefined;
    }
    const sent = performance.now();
    try {
      const res = await laneOf.pool.request(method, path, headers, body);
      const answer: Answer = { status: res.status, body: res.body ? JSON.parse(res.body) : undefined };
      const retryAfter = op === 'join' || op === 'poll' ? headerOf(res, 'retry-after') : undefined;
      if (retryAfter !== undefined) answer.retryAfter = Number(retryAfter);
      logs[op].add(since(due), since(sent), since(performance.now()), res.status);
      count(outcomes[op], res.status < 400 || !answer.body?.code ? String(res.status) : `${res.status} ${answer.body.code}`);
      return answer;
    } catch (err) {
      const e = err as { name?: string; code?: string };
      count(outcomes[op], aborted ? ABORTED : (e.code ?? e.name ?? 'Error'));
      logs[op].add(since(due), since(sent), since(performance.now()), 0);
      return undefined;
    } finally {
      laneOf.release();
    }
  };

  const sleepUntil = (t: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, t - performance.now())));

  const soldOutAt: number[] = [];
  const payments: GeneratorResult['payments'] = { shape: 'unknown', orders: 0, seatsPaid: 0 };
  const order = task.seatsPerOrder ?? { min: 1, max: 1 };

  /**
   * Pays the fan's holds: one order of them all where the API takes `reservationIds` (a 400
   * VALIDATION_FAILED to the first such order says it does not: from then on, one payment per
   * reservation, stopping at the first refusal).
   */
  const pay = async (json: Record<string, string>, reservationIds: string[], bought: { seats: number }): Promise<void> => {
    if (reservationIds.length > 1 && payments.shape !== 'per-reservation') {
      const paid = await call(bookingLane, 'pay', performance.now(), 'POST', '/payments', json, JSON.stringify({ reservationIds }));
      if (!paid) return end('stopped while booking');
      if (paid.status === 201) {
        payments.shape = 'order';
        payments.orders++;
        payments.seatsPaid += reservationIds.length;
        bought.seats += reservationIds.length;
        return end(`paid ${reservationIds.length} seats in one order`);
      }
      if (!(paid.status === 400 && paid.body?.code === 'VALIDATION_FAILED' && payments.shape === 'unknown')) return end(`payment refused (${paid.status})`);
      payments.shape = 'per-reservation';
    }
    for (const [i, reservationId] of reservationIds.entries()) {
      const paid = await call(bookingLane, 'pay', performance.now(), 'POST', '/payments', json, JSON.stringify({ reservationId }));
      if (!paid) return end('stopped while booking');
      if (paid.status !== 201) return end(i ? `paid ${i} of ${reservationIds.length} seats, then refused (${paid.status})` : `payment refused (${paid.status})`);
      payments.orders++;
      payments.seatsPaid++;
      bought.seats++;
    }
    return end(reservationIds.length > 1 ? `paid ${reservationIds.length} seats one by one` : 'paid');
  };

  const book = async (headers: Record<string, string>, bought: { seats: number }): Promise<void> => {
    const json = { ...headers, 'content-type': 'application/json' };
    const wanted = order.min + Math.floor(Math.random() * (order.max - order.min + 1));
    const held: string[] = [];
    for (let listing = 0; listing < 2 && held.length < wanted; listing++) {
      const page = await call(bookingLane, 'seats', performance.now(), 'GET', `/schedules/${task.scheduleId}/seats?status=AVAILABLE`, headers);
      if (page?.status !== 200) {
        if (held.length) break;
        return end(page ? 'seat list refused' : 'stopped while booking');
      }
      const free: number[] = page.body.items.map((s: { seatNumber: number }) => s.seatNumber);
      if (!free.length) {
        if (held.length) break;
        return end('sold out');
      }
      // Three tries for one seat (taken ones answer 409), one more for each further seat wanted.
      for (let attempt = 0; attempt < 2 + wanted && free.length && held.length < wanted; attempt++) {
        // A random seat of the page, as fans pick different seats of one map; taken ones answer 409.
        const [seatNumber] = free.splice(Math.floor(Math.random() * free.length), 1);
        const hold = await call(bookingLane, 'hold', performance.now(), 'POST', '/reservations', json, JSON.stringify({ scheduleId: task.scheduleId, seatNumber }));
        if (!hold) return end('stopped while booking');
        if (hold.status === 409) continue;
        if (hold.status !== 201) {
          if (held.length) break;
          return end(`hold refused (${hold.status})`);
        }
        held.push(hold.body.reservationId);
      }
    }
    if (!held.length) return end('no seat after 2 pages × 3 tries');
    return pay(json, held, bought);
  };

  const fan = async (j: number, due: number): Promise<void> => {
    const authorization = `Bearer ${tokens[j]}`;
    const joined = await call(waitingLane, 'join', due, 'POST', `/concerts/${task.concertId}/queue-tokens`, { authorization });
    if (!joined) return end(performance.now() >= stopAt ? 'join unanswered at the end' : 'join failed');
    if (joined.status === 409 && joined.body?.code === 'SOLD_OUT') soldOutAt.push(since(performance.now()));
    if (joined.status >= 300) return end(`join refused (${joined.status})`);
    const headers = { authorization, 'x-queue-token': joined.body.token as string };
    let ticket = joined.body as { status: string; position: number; etaSeconds: number };
    // The join answer carries no Retry-After: the first wait is what a poll at that moment would
    // say (the queue is at least `position` long; taking exactly that errs toward polling sooner).
    let wait = joined.retryAfter ?? retryAfterSeconds(ticket.position, ticket.position, ticket.etaSeconds, task.pollBudgetPerSecond);
    while (ticket.status === 'WAITING') {
      const next = performance.now() + wait * 1000;
      if (next >= stopAt) return end('still waiting at the end');
      await sleepUntil(next);
      const poll = await call(waitingLane, 'poll', next, 'GET', '/queue-tokens/current', headers);
      if (!poll) return end('still waiting at the end');
      if (poll.status === 200) ticket = poll.body;
      // A refused poll (429, 5xx) is tried again when it says, or after a second; any other refusal ends the fan.
      else if (poll.status !== 429 && poll.status < 500) return end(`poll refused (${poll.status})`);
      wait = poll.retryAfter ?? 1;
    }
    if (ticket.status === 'SOLD_OUT') soldOutAt.push(since(performance.now()));
    if (ticket.status !== 'ACTIVE') return end(`token ${ticket.status}`);
    admittedAt.push(since(performance.now()));
    const bought = { seats: 0 };
    await book(headers, bought);
    if (task.leaveWhenDone && bought.seats === 0 && performance.now() < stopAt) await leave(headers);
  };

  /** Ends the fan's session (a no-op after a payment, which ended it already); counted in the endings only. */
  const leave = async (headers: Record<string, string>): Promise<void> => {
    try {
      await bookingLane.acquire(performance.now());
    } catch {
      return;
    }
    try {
      const res = await bookingLane.pool.request('DELETE', '/queue-tokens/current', headers);
      count(endings, `left after (${res.status})`);
    } catch {
      count(endings, 'left after (no answer)');
    } finally {
      bookingLane.release();
    }
  };

  // Per-second figures of the generator itself.
  const seconds: GeneratorSecond[] = [];
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  let lastCpu = process.cpuUsage();
  let lastAt = performance.now();
  const everySecond = setInterval(() => {
    const cpu = process.cpuUsage(lastCpu);
    const now = performance.now();
    seconds.push({
      cpu: Math.round(((cpu.user + cpu.system) / 1000 / (now - lastAt)) * 100),
      loopDelayP99: Math.round(loop.percentile(99) / 1e6),
      queued: waitingLane.queued + bookingLane.queued,
      inFlight: waitingLane.inFlight + bookingLane.inFlight,
      rssMb: Math.round(process.memoryUsage.rss() / 2 ** 20),
    });
    loop.reset();
    lastCpu = process.cpuUsage();
    lastAt = now;
  }, 1000);

  await sleepUntil(t0);
  lastCpu = process.cpuUsage();
  lastAt = performance.now();
  loop.reset();

  // The arrival clock: every few ms, launch the fans whose arrival time has come while a connection
  // is free; when none is, a freed one goes to whoever fell due first, a poll or an arrival. An
  // arrival waiting for a connection is only an index behind the clock (300,000 waiting promises
  // stalled a first version in GC for seconds); its latency still counts from its due time.
  const fans: Array<Promise<void>> = [];
  const dueOf = (j: number) => t0 + ((task.offset + j * task.stride) / task.arrivalsPerSecond) * 1000;
  let next = 0; // the next fan to launch
  const pending = () => next < task.userIds.length;
  waitingLane.arrivals = {
    nextDue: (now) => (pending() && dueOf(next) <= now ? dueOf(next) : undefined),
    launch: () => {
      const j = next++;
      fans.push(fan(j, dueOf(j)));
    },
  };
  while (pending()) {
    const now = performance.now();
    if (now >= stopAt) break;
    while (pending() && dueOf(next) <= now && waitingLane.idle) waitingLane.arrivals.launch();
    await sleepUntil(pending() && dueOf(next) > now ? Math.min(dueOf(next), now + 5) : now + 1);
  }
  // Arrivals never sent: due before the end, but no connection came free for them.
  for (let k = next; k < task.userIds.length && dueOf(k) < stopAt; k++) {
    count(outcomes.join, UNSENT);
    logs.join.add(since(dueOf(k)), NaN, NaN, 0);
  }

  await sleepUntil(stopAt);
  waitingLane.close();
  bookingLane.close();
  const drained = Promise.all(fans);
  const deadline = setTimeout(() => {
    aborted = true;
    waitingLane.pool.destroy();
    bookingLane.pool.destroy();
  }, task.drainSeconds * 1000);
  await drained;
  clearTimeout(deadline);
  clearInterval(everySecond);
  loop.disable();
  waitingLane.pool.destroy();
  bookingLane.pool.destroy();
  const unsent = task.userIds.length - fans.length;
  if (unsent) endings['join never sent (no free connection before the end)'] = unsent;

  return {
    samples: Object.fromEntries(OPS.map((op) => [op, logs[op].samples()])) as GeneratorResult['samples'],
    outcomes,
    admittedAt: Float32Array.from(admittedAt),
    endings,
    seconds,
    soldOutAt: Float32Array.from(soldOutAt),
    payments,
  };
}

const send = (message: FromGenerator, then?: () => void) => process.send!(message, undefined, {}, then);
let task: GeneratorTask | undefined;
let tokens: string[] = [];
process.on('message', (message: ToGenerator) => {
  if (message.type === 'setup') {
    task = message.task;
    // Signed before the start, not measured: ~5 µs each.
    const nowSeconds = Math.floor(Date.now() / 1000);
    tokens = task.userIds.map((id) => signAccessToken(id, task!.authSecret, task!.accessTokenTtlSeconds, nowSeconds));
    send({ type: 'ready' });
  } else if (message.type === 'go') {
    run(task!, tokens, message.startAt).then(
      // The channel closes only once the samples are through it; then nothing keeps the process up.
      (result) => send({ type: 'done', result }, () => process.disconnect()),
      (err) => {
        console.error('rush generator failed:', err);
        process.exit(1);
      },
    );
  }
});
