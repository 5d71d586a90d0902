import { randomUUID } from 'node:crypto';
import { outcome } from '../lib/api';
import { quietTemporal, withCpu } from '../lib/cpu';
import { launch, portAnswers, stopChild, waitFor } from '../lib/proc';
import type { Scenario } from '../lib/scenario';
import { BENCH } from '../lib/stack';
import { fmtMs, Recorder, type Measurement } from '../lib/stats';
import { RawConnection, rawRequest } from '../lib/raw-http';

const REFUSED = '409 SEAT_UNAVAILABLE';

/** A rush on one seat: one winner; every loser is refused by the Redis gate before Temporal and Postgres. */
export const contestedSeat: Scenario = {
  name: 'contested-seat',
  kind: 'product',
  what: "up to 1,000 admitted fans POST /reservations for ONE seat at once (one try each); rate = answers / burst time, latencies are the losers'",
  ceilings: ['http'],
  targets: [{ label: 'exactly one winner, every loser a clean 409, the last answer within 300 ms of the burst’s start', maxErrors: 0, maxDurationMs: 300 }],
  async run(ctx) {
    await ctx.stack.product();
    const { contestedScheduleId } = await ctx.fixtures.booking();
    const fans = (await ctx.fixtures.fans())
      .filter((f) => f.holds.length < 4)
      .sort((a, b) => a.holds.length - b.holds.length)
      .slice(0, ctx.sizes.maxContenders);
    if (fans.length < ctx.sizes.minContenders) throw new Error(`only ${fans.length} fans can still hold a seat (need ≥ ${ctx.sizes.minContenders})`);
    // One socket per contender, open (and used once) before the burst, and every request serialized
    // before it too: the burst measures the API, not TCP handshakes nor the generator's HTTP client.
    const body = JSON.stringify({ scheduleId: contestedScheduleId, seatNumber: 1 });
    const headers = fans.map((fan) => ctx.api.headers({ user: fan, queueToken: fan.queueToken, json: true }));

    // First the raw shape, on a seat of its own (bench/raw/contested.ts): the same fans, the same
    // bytes. Its claim script is the single Redis's (the cluster stack's fans live on the cluster).
    let rawBurst: Burst | undefined;
    if (ctx.stack.shape === 'dev') {
      const raw = launch('contested-raw', 'aux', process.execPath, ['--import', 'tsx', 'bench/raw/contested.ts'], {
        ...ctx.stack.productEnv(),
        PORT: String(BENCH.helloPort),
        RAW_SCHEDULE_ID: randomUUID(),
      });
      try {
        await waitFor('the contested seat’s raw server', () => portAnswers(BENCH.helloPort), 60_000, raw);
        // A fresh process: three unmeasured bursts on other seats first, as the API is warm from the
        // scenarios before (with one, the full run of 2b82ed7 found the product cheaper than this).
        for (const seatNumber of [2, 3, 4]) await burst('127.0.0.1', BENCH.helloPort, headers, JSON.stringify({ scheduleId: contestedScheduleId, seatNumber }));
        rawBurst = await burst('127.0.0.1', BENCH.helloPort, headers, body);
      } finally {
        await stopChild(raw);
      }
    }

    const { hostname, port } = new URL(ctx.stack.apiUrl);
    const product = await burst(hostname, Number(port), headers, body);
    const measured = product.row('contested-seat');
    measured.errors += Math.abs(product.winners.length - 1);
    fans.forEach((fan, i) => {
      const id = product.held[i];
      if (id) fan.holds.push(id);
    });
    measured.notes.push(
      `${product.winners.length === 1 ? 'exactly one 201 ✓' : `${product.winners.length} × 201 ✗ (expected exactly one)`}; ` +
        `${measured.statuses[REFUSED] ?? 0} refused ${REFUSED}; winner answered in ${fmtMs(product.winners[0] ?? NaN)} ms; whole burst ${product.seconds.toFixed(2)} s` +
        (rawBurst ? `; the raw shape's whole burst ${rawBurst.seconds.toFixed(2)} s` : ''),
    );
    if (!rawBurst) return [measured];
    const rawRow = rawBurst.row('contested-seat raw shape');
    rawRow.errors += Math.abs(rawBurst.winners.length - 1);
    return [measured, rawRow];
  },
};

interface Burst {
  seconds: number;
  winners: number[];
  /** The reservation id each contender got, where it got one. */
  held: Array<string | undefined>;
  row(name: string): Measurement;
}

/**
 * Sends every contender's hold at once, each on a socket of its own opened (and used once) before,
 * and waits for every answer. A row's rate is answers per second over the burst, the winner's
 * included; its latencies are the losers'.
 */
async function burst(hostname: string, port: number, headers: Array<Record<string, string>>, body: string): Promise<Burst> {
  const host = `${hostname}:${port}`;
  const connections = await Promise.all(headers.map(() => RawConnection.open(hostname, port)));
  const healthz = rawRequest('GET', '/healthz', host, {});
  await Promise.all(connections.map((c) => c.send(healthz)));
  const requests = headers.map((h) => rawRequest('POST', '/reservations', host, h, body));

  await quietTemporal(); // the burst lasts a third of a second: nothing else may share it

  const losers = new Recorder();
  const winners: number[] = [];
  const held: Array<string | undefined> = [];
  const { result: seconds, cpu, window } = await withCpu(async () => {
    const started = performance.now();
    await Promise.all(
      connections.map(async (connection, i) => {
        const t0 = performance.now();
        try {
          const answer = await connection.send(requests[i]!);
          const res = { status: answer.status, body: answer.body ? JSON.parse(answer.body) : undefined };
          const o = outcome(res);
          if (res.status === 201) {
            winners.push(performance.now() - t0);
            held[i] = res.body.reservationId;
            losers.tally(o);
          } else {
            losers.record(performance.now() - t0, o, o === REFUSED);
          }
        } catch (err) {
          losers.record(0, (err as Error).name, false);
        }
      }),
    );
    return (performance.now() - started) / 1000;
  });
  for (const c of connections) c.close();
  return {
    seconds,
    winners,
    held,
    row: (name) => {
      const measured = { ...losers.summary(name, connections.length, seconds), cpu, window };
      measured.rate = connections.length / seconds;
      return measured;
    },
  };
}
