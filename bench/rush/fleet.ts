import { loadConfig } from '../../lib/config';
import { monotonicUs } from '../lib/cpu';
import { launch, LOG_DIR, sleep, type Child } from '../lib/proc';
import type { RushSize } from '../lib/sizes';
import { BENCH, extraNodeArgs, productEnv } from '../lib/stack';
import type { FromGenerator, GeneratorResult, GeneratorTask, ToGenerator } from './protocol';

/** The admission valve's bounds in a rush, and where it starts: it finds the rate holds and payments allow. */
export const RUSH_VALVE = { admitPerSecond: 10, minAdmitPerSecond: 5, maxAdmitPerSecond: 60 };
/** Per generator: the waiting room's connections (joins, polls) and the admitted fans' (booking). */
export const RUSH_CONNECTIONS = { waiting: 256, booking: 64 };
/** Requests on the wire when the run ends get this long to answer. */
const DRAIN_SECONDS = 30;

/** Where a rush's fans go: the API, and the concert's one schedule. */
export type RushTarget = Pick<GeneratorTask, 'apiUrl' | 'concertId' | 'scheduleId'>;
/** What every generator of a rush is told, but for its share of the fans. */
export type FleetTask = Omit<GeneratorTask, 'userIds' | 'offset' | 'stride'>;

/**
 * A rush of `size`: `size.users` arrivals over `size.seconds`, fans polling and booking until the tail
 * ends, with tokens signed with the bench's secret for an hour and polls within the product's poll
 * budget (as the API runs with it).
 */
export function rushTask(size: RushSize, target: RushTarget): FleetTask {
  return {
    ...target,
    arrivalsPerSecond: size.users / size.seconds,
    stopAfterSeconds: size.seconds + size.tailSeconds,
    drainSeconds: DRAIN_SECONDS,
    authSecret: BENCH.authSecret,
    accessTokenTtlSeconds: 3600,
    pollBudgetPerSecond: loadConfig(productEnv()).QUEUE_POLL_BUDGET_PER_SECOND,
    connections: RUSH_CONNECTIONS,
  };
}

/** The generators of one open-model run, set up and waiting for the word to start. */
export interface Fleet {
  /** Every generator starts its arrivals at `startAt` (epoch ms). */
  go(startAt: number): void;
  /** Every generator's result, once each has stopped and drained. */
  done: Promise<GeneratorResult[]>;
}

/**
 * Launches `count` rush generators (bench/rush/generator.ts, a process each, for the rush and the
 * sell-out), deals the fans out between them (generator g takes arrivals g, g + count, …) and resolves
 * once every one is set up.
 */
export async function launchFleet(name: string, count: number, userIds: string[], task: FleetTask): Promise<Fleet> {
  const children = Array.from({ length: count }, (_, g) =>
    launch(
      `${name}-generator-${g}`,
      'bench',
      process.execPath,
      [...extraNodeArgs('BENCH_GENERATOR_NODE_ARGS'), '--max-old-space-size=4096', '--import', 'tsx', 'bench/rush/generator.ts'],
      process.env,
      { ipc: true },
    ),
  );
  const message = (child: Child, type: FromGenerator['type']) =>
    new Promise<FromGenerator>((resolve, reject) => {
      const onMessage = (m: FromGenerator) => m.type === type && (child.proc.off('close', onClose), child.proc.off('message', onMessage), resolve(m));
      // 'close', not 'exit': it comes after every message the channel still held.
      const onClose = (code: number | null) => reject(new Error(`${child.name} ended (${code}) before "${type}"; see its log in ${LOG_DIR}`));
      child.proc.on('message', onMessage);
      child.proc.once('close', onClose);
    });
  const tell = (child: Child, m: ToGenerator) => child.proc.send(m);
  await Promise.all(
    children.map((child, g) => {
      tell(child, { type: 'setup', task: { ...task, userIds: userIds.filter((_, i) => i % count === g), offset: g, stride: count } });
      return message(child, 'ready');
    }),
  );
  const done = Promise.all(children.map((child) => message(child, 'done'))).then((answers) =>
    answers.map((m) => (m as Extract<FromGenerator, { type: 'done' }>).result),
  );
  return { go: (startAt) => children.forEach((child) => tell(child, { type: 'go', startAt })), done };
}

/** A fleet's run, sampled every second. */
export interface FleetRun<S> {
  results: GeneratorResult[];
  samples: S[];
  /** From the arrivals' start to the last generator's end (bench/lib/cpu.ts's monotonic clock). */
  window: { fromUs: number; toUs: number };
}

/**
 * Starts the fleet's arrivals a second from now and, from then until every generator is done, takes
 * a sample at each whole second of the run: `startSampling` is called at the start (a CPU meter begins
 * there) and returns what one second's sample takes. Every 10 s the last sample is printed as
 * `describe` says.
 */
export async function runFleet<S>(fleet: Fleet, startSampling: () => (tick: number) => Promise<S>, describe: (last: S) => string): Promise<FleetRun<S>> {
  const startAt = Date.now() + 1_000;
  fleet.go(startAt);
  const samples: S[] = [];
  let finished = false;
  const all = fleet.done.finally(() => (finished = true));
  await sleep(startAt - Date.now());
  const take = startSampling();
  const fromUs = monotonicUs();
  const sampler = (async () => {
    for (let tick = 1; !finished; tick++) {
      await sleep(startAt + tick * 1000 - Date.now());
      samples.push(await take(tick));
    }
  })();
  const progress = setInterval(() => {
    const last = samples[samples.length - 1];
    if (last) console.log(describe(last));
  }, 10_000);
  let results: GeneratorResult[];
  try {
    results = await all;
  } finally {
    clearInterval(progress);
    await sampler;
  }
  return { results, samples, window: { fromUs, toUs: monotonicUs() } };
}
