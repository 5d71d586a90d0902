/**
 * Load generation. Closed loops only: each connection (or client) sends its next request as soon as
 * the previous one answered, so the rate is what the system sustains at that concurrency.
 * - `httpLoad`: HTTP requests prepared before the window: one request through autocannon, a rotation
 *   (many fans) over raw keep-alive sockets (bench/lib/raw-http.ts).
 * - `closedLoop`: any async call (fetch with per-request state, Temporal client calls).
 * Both time the window themselves and record who used the CPU during it.
 */
import autocannon from 'autocannon';
import { withCpu, type CpuUsage } from './cpu';
import { RawConnection, rawRequest } from './raw-http';
import { Recorder, type Measurement } from './stats';

export interface HttpRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

export async function httpLoad(opts: {
  name: string;
  url: string;
  connections: number;
  durationS: number;
  /** Seconds of the same load before the measured window (JIT, pools, caches), not recorded. */
  warmupS?: number;
  /** One request, or a rotation: request i goes out with `rotation[i % length]`. */
  request: HttpRequest | HttpRequest[];
  ok?: (status: number) => boolean;
  notes?: string[];
}): Promise<Measurement> {
  const ok = opts.ok ?? ((s: number) => s >= 200 && s < 300);
  const rotation = Array.isArray(opts.request) ? opts.request : [opts.request];
  const send = rotation.length === 1 ? cannon : rotate;
  if (opts.warmupS) await send(opts.url, opts.connections, opts.warmupS, rotation, () => undefined);
  const recorder = new Recorder();
  const { result, cpu, window } = await withCpu(() =>
    send(opts.url, opts.connections, opts.durationS, rotation, (status, ms) => recorder.record(ms, status, ok(status))),
  );
  for (let i = 0; i < result.connectionErrors; i++) recorder.record(0, 'connection error', false);
  return { ...recorder.summary(opts.name, opts.connections, result.seconds, opts.notes), cpu, window };
}

/** Sends `rotation` over `connections` for `durationS` seconds, telling `onResponse` of each answer. */
type Sender = (
  url: string,
  connections: number,
  durationS: number,
  rotation: HttpRequest[],
  onResponse: (status: number, ms: number) => void,
) => Promise<{ seconds: number; connectionErrors: number }>;

const cannon: Sender = (url, connections, durationS, rotation, onResponse) =>
  new Promise((resolve, reject) => {
    const started = performance.now();
    const instance = autocannon(
      {
        url,
        connections,
        duration: durationS,
        timeout: 30,
        requests: [rotation[0]], // encoded once
      },
      (err, res) => (err ? reject(err) : resolve({ seconds: (performance.now() - started) / 1000, connectionErrors: res.errors })),
    );
    instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => onResponse(status, ms));
  });

/**
 * A rotation of requests, request i with `rotation[i % length]` over whichever connection is free
 * (consecutive requests go to different fans, as autocannon's rotation did), each encoded once before
 * the window. A connection that fails counts an error and is reopened; an answer still missing 30 s
 * after the window's end fails its connection.
 */
const rotate: Sender = async (url, connections, durationS, rotation, onResponse) => {
  const { hostname, port, host } = new URL(url);
  const encoded = rotation.map((r) => rawRequest(r.method, r.path, host, r.headers ?? {}, r.body));
  const open = () => RawConnection.open(hostname, Number(port));
  const live = new Set<RawConnection>();
  let next = 0;
  let connectionErrors = 0;
  const started = performance.now();
  const deadline = started + durationS * 1000;
  const stuck = setTimeout(() => live.forEach((c) => c.close()), durationS * 1000 + 30_000);
  const connection = async () => {
    let conn = await open();
    live.add(conn);
    while (performance.now() < deadline) {
      const sent = performance.now();
      try {
        const { status } = await conn.send(encoded[next++ % encoded.length]);
        onResponse(status, performance.now() - sent);
      } catch {
        connectionErrors++;
        live.delete(conn);
        conn.close();
        if (performance.now() >= deadline) return;
        conn = await open();
        live.add(conn);
      }
    }
    live.delete(conn);
    conn.close();
  };
  try {
    await Promise.all(Array.from({ length: connections }, connection));
  } finally {
    clearTimeout(stuck);
  }
  return { seconds: (performance.now() - started) / 1000, connectionErrors };
};

/** One call of a closed loop: resolves to its outcome (an HTTP status or a name). */
export type Call = () => Promise<number | string>;

/** One closed loop's calls: what to send next (undefined: no more work, that client stops) and which outcomes count. */
export interface LoopCalls {
  name: string;
  next: () => Call | undefined;
  ok?: (outcome: number | string) => boolean;
}

const okOf = (calls: LoopCalls) => calls.ok ?? ((o: number | string) => typeof o === 'number' && o >= 200 && o < 300);

/** `concurrency` clients send `calls` until `durationS` has passed, each answer into `recorder`; returns the seconds taken. */
async function runLoop(calls: LoopCalls, recorder: Recorder, concurrency: number, durationS: number): Promise<number> {
  const ok = okOf(calls);
  const started = performance.now();
  const deadline = started + durationS * 1000;
  const client = async () => {
    while (performance.now() < deadline) {
      const call = calls.next();
      if (!call) return;
      const t0 = performance.now();
      let outcome: number | string;
      try {
        outcome = await call();
      } catch (err) {
        outcome = errorName(err);
      }
      recorder.record(performance.now() - t0, outcome, ok(outcome));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, client));
  return (performance.now() - started) / 1000;
}

export async function closedLoop(opts: LoopCalls & { concurrency: number; durationS: number; notes?: string[] }): Promise<Measurement> {
  const recorder = new Recorder();
  const { result: seconds, cpu, window } = await withCpu(() => runLoop(opts, recorder, opts.concurrency, opts.durationS));
  return { ...recorder.summary(opts.name, opts.concurrency, seconds, opts.notes), cpu, window };
}

/**
 * Two or more closed loops measured in turns: `slices` windows each, one loop at a time, in
 * alternating order, for `durationS` in all per loop. Their rates then compare on the same minutes of
 * a box whose speed drifts within the minute (two back-to-back windows of the same shape differed by
 * up to 25 % here). Each loop's figures and CPU are over its own slices; its `window` spans them all
 * (a profile of that window holds the other loops' slices too).
 */
export async function interleavedLoops(loads: LoopCalls[], opts: { concurrency: number; durationS: number; slices: number }): Promise<Measurement[]> {
  const parts = loads.map(() => ({ recorder: new Recorder(), seconds: 0, cpu: undefined as CpuUsage | undefined, fromUs: Infinity, toUs: 0 }));
  for (let slice = 0; slice < opts.slices; slice++) {
    const order = loads.map((_, i) => i);
    if (slice % 2) order.reverse();
    for (const i of order) {
      const part = parts[i];
      const { result: seconds, cpu, window } = await withCpu(() => runLoop(loads[i], part.recorder, opts.concurrency, opts.durationS / opts.slices));
      // CPU is a share of a core over the slice: weighted by the slice's seconds.
      part.cpu = part.cpu
        ? (Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, (part.cpu![k as keyof CpuUsage] * part.seconds + v * seconds) / (part.seconds + seconds)])) as CpuUsage)
        : cpu;
      part.seconds += seconds;
      part.fromUs = Math.min(part.fromUs, window.fromUs);
      part.toUs = Math.max(part.toUs, window.toUs);
    }
  }
  return parts.map((part, i) => ({
    ...part.recorder.summary(loads[i].name, opts.concurrency, part.seconds),
    cpu: part.cpu,
    window: { fromUs: part.fromUs, toUs: part.toUs },
  }));
}

export function errorName(err: unknown): string {
  const e = err as { name?: string; cause?: { code?: string }; message?: string };
  return e?.cause?.code ?? e?.name ?? 'Error';
}

/** Runs `fn` over `items` with at most `limit` in flight (setup work, not measured). */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let i = 0;
  const worker = async () => {
    while (i < items.length) {
      const index = i++;
      results[index] = await fn(items[index], index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
