import { outcome } from '../lib/api';
import { quietTemporal, withCpu } from '../lib/cpu';
import type { Scenario } from '../lib/scenario';
import { fmtMs, Recorder } from '../lib/stats';
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
    const { hostname, port, host } = new URL(ctx.stack.apiUrl);
    const connections = await Promise.all(fans.map(() => RawConnection.open(hostname, Number(port))));
    const healthz = rawRequest('GET', '/healthz', host, {});
    await Promise.all(connections.map((c) => c.send(healthz)));
    const body = JSON.stringify({ scheduleId: contestedScheduleId, seatNumber: 1 });
    const requests = fans.map((fan) =>
      rawRequest('POST', '/reservations', host, ctx.api.headers({ user: fan, queueToken: fan.queueToken, json: true }), body),
    );

    await quietTemporal(); // the burst lasts a third of a second: nothing else may share it

    const losers = new Recorder();
    const winners: number[] = [];
    const { result: seconds, cpu, window } = await withCpu(async () => {
      const started = performance.now();
      await Promise.all(
        fans.map(async (fan, i) => {
          const t0 = performance.now();
          try {
            const raw = await connections[i]!.send(requests[i]!);
            const res = { status: raw.status, body: raw.body ? JSON.parse(raw.body) : undefined, headers: new Headers() };
            const o = outcome(res);
            if (res.status === 201) {
              winners.push(performance.now() - t0);
              fan.holds.push(res.body.reservationId);
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
    const measured = { ...losers.summary('contested-seat', fans.length, seconds), cpu, window };
    measured.rate = fans.length / seconds; // answers per second over the burst, the winner's included
    measured.errors += Math.abs(winners.length - 1);
    measured.notes.push(
      `${winners.length === 1 ? 'exactly one 201 ✓' : `${winners.length} × 201 ✗ (expected exactly one)`}; ` +
        `${measured.statuses[REFUSED] ?? 0} refused ${REFUSED}; winner answered in ${fmtMs(winners[0] ?? NaN)} ms; whole burst ${seconds.toFixed(2)} s`,
    );
    return [measured];
  },
};
