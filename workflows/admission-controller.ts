import {
  allHandlersFinished,
  condition,
  continueAsNew,
  patched,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { earnCredit } from './admission-credit';
import { adjustAdmissionRate, DEFAULT_LATENCY_TARGETS } from './admission-valve';
import { healthWindowSeconds, validateSettings } from './queue-settings';
import type { AdmissionActivities, AdmitResult } from '../activities/admission';
import type { AfterSaleActivities } from '../activities/after-sale';
import { legacyAdmissionController } from './legacy/admission-controller-v1';
import {
  queueSettingsUpdate,
  queueStateQuery,
  wakeAdmissionSignal,
  type AdmissionInput,
  type QueueSettings,
  type QueueState,
  type RateAdjustment,
  type SeatsLeft,
  type AdmissionHeldReason,
} from './definitions';

const { admitFans } = proxyActivities<AdmissionActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '200ms', maximumInterval: '5s' },
});

/** Ending the journeys of a sold-out concert: one update per live journey, so minutes at most, with heartbeats. */
const { endLiveJourneys } = proxyActivities<AfterSaleActivities>({
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
});

/** Admitted fans per seat left of a controller started without the setting (QUEUE_ADMIT_PER_SEAT_FACTOR's default). */
export const DEFAULT_ADMIT_PER_SEAT = 1;

/** Ticks before the controller continues as new, far below Temporal's history limits. */
const DEFAULT_TICKS_PER_RUN = 500;
const DEFAULT_ADJUST_EVERY_MS = 5_000;
/** While nobody waits but fans are still active, the counts and the sweep are refreshed this often. */
const IDLE_TICK_MS = 5_000;
/** How often a busy controller sweeps holds no journey released (the sweep also runs on every idle tick). */
const SWEEP_EVERY_MS = 30_000;

/**
 * The patch that introduced sleeping while idle and ending when booking is over: a run started
 * before it replays on workflows/legacy/admission-controller-v1.ts until it continues as new.
 */
export const ADMISSION_V2_PATCH = 'admission-v2';

/**
 * The patch that ends the controller when the concert sells out (after ending the live journeys):
 * a run recorded before it kept ticking, and replays so. (Admitting by the seats left is the tick
 * activity's business: it changes no command.)
 */
export const ADMISSION_SOLD_OUT_PATCH = 'admission-sold-out';

/**
 * The patch that times ticks start to start: a tick that admitted fans and took the whole interval
 * or longer (their journey starts) is followed at once, with no timer. Before it every tick waited
 * a whole interval after its activity, and on the Temporal server a timer shorter than a second
 * fires about a second late (its timer queue reads one second ahead:
 * history.timerProcessorMaxTimeShift), so a busy queue got one tick's worth of fans per (starts +
 * ~1 s) instead of per interval. A run recorded before it started a timer after every tick, and
 * replays so.
 */
export const ADMISSION_START_TO_START_PATCH = 'admission-start-to-start';

/**
 * The patch after which an operator's change answers only once it is in force: a tick already
 * running when it lands took the old settings (a pause's tick may still admit, up to the old rate
 * and maxActive), so the answer waits for that tick's end. Without it a fan who joined a queue
 * just paused could be admitted. A run recorded before it answered at once, and replays so.
 */
export const ADMISSION_SETTINGS_IN_FORCE_PATCH = 'admission-settings-in-force';

/**
 * One per concert: each tick admits fans from the head of the waiting queue at `admitPerSecond`,
 * never beyond `maxActive` active fans, and starts their journeys. Operators steer it live through
 * an update; settings and counts go out through a query.
 *
 * Idle costs nothing: when nobody waits, the tick's activity marks the controller asleep in Redis
 * and it waits for a signal (no timer; while fans are still active, a slow tick refreshes the
 * counts). The first fan to join deletes the mark and the API sends `wake` (signal-with-start,
 * so a controller that ended is started again). When booking has closed on every schedule and
 * nobody waits or is active, the controller ends.
 *
 * Inventory-aware: each tick counts the seats left to buy and admits no more fans than
 * ceil(seats left × admitPerSeat) active at once; while every seat left is held it admits nobody
 * (fans keep their places, their status says ALL_SEATS_HELD) and resumes as soon as a hold lapses or
 * is cancelled. When every seat is sold the tick closes the queue as SOLD_OUT; the controller then
 * ends the live journeys (nothing is left for them to buy) and ends itself.
 */
export async function admissionController(input: AdmissionInput): Promise<void> {
  if (!patched(ADMISSION_V2_PATCH)) return legacyAdmissionController(input);
  let settings: QueueSettings = {
    adaptive: false,
    minAdmitPerSecond: Math.min(1, input.settings.admitPerSecond),
    maxAdmitPerSecond: Math.max(input.settings.admitPerSecond, 10_000),
    ...input.settings,
  };
  // A controller started before the setting existed carries none: it takes the default.
  const admitPerSeat = () => settings.admitPerSeat ?? DEFAULT_ADMIT_PER_SEAT;
  let admittedTotal = input.admittedTotal ?? 0;
  // Fractional admissions carry over between ticks, so 0.5/s admits one fan every two seconds.
  let credit = input.credit ?? 0;
  let lastAdjustment: RateAdjustment | undefined = input.lastAdjustment;
  let counts = { waiting: 0, active: 0 };
  let inventory: { seatsLeft?: SeatsLeft; admissionHeld?: AdmissionHeldReason } = {};
  let settingsChanged = false;
  let woken = false;
  // Ticks started and ended, counted: an update waits for the tick it saw running, not for a moment
  // with no tick in flight (the next one starts at once when fans wait).
  let ticksStarted = 0;
  let ticksEnded = 0;

  let soldOut = false;
  const state = (): QueueState => ({
    ...settings, admitPerSeat: admitPerSeat(), ...counts, admittedTotal, ...(lastAdjustment && { lastAdjustment }), ...inventory, ...(soldOut && { soldOut }),
  });
  setHandler(queueStateQuery, state);
  setHandler(
    queueSettingsUpdate,
    async (patch) => {
      settings = { ...settings, ...patch };
      settingsChanged = true;
      const running = ticksStarted;
      if (ticksEnded < running && patched(ADMISSION_SETTINGS_IN_FORCE_PATCH)) await condition(() => ticksEnded >= running);
      return state();
    },
    { validator: (patch) => validateSettings(patch, settings) },
  );
  setHandler(wakeAdmissionSignal, () => {
    woken = true;
  });

  const ticksPerRun = input.ticksPerRun ?? DEFAULT_TICKS_PER_RUN;
  const adjustEveryMs = input.adjustEveryMs ?? DEFAULT_ADJUST_EVERY_MS;
  // The valve looks by the workflow's clock, not every so many ticks: under load ticks come late
  // (late timers, slow journey starts), and looks counted in ticks came too seldom to stop a rate
  // that overloaded the box. The first look is at the tick that starts an interval less one tick in,
  // as it was.
  let nextLookAt = Date.now() + adjustEveryMs - input.tickMs;
  // The sweep too goes by the clock (it was every so many ticks, minutes apart when ticks come late);
  // a run's first tick sweeps.
  let nextSweepAt = Date.now();
  let bookingOver = false;
  let slowTick = false;
  // When the last tick that earned credit began (workflow time); unset after a sleep, whose time
  // earns nothing: nobody was waiting to be admitted.
  let creditedAt: number | undefined;
  for (let tick = 0; tick < ticksPerRun && !workflowInfo().continueAsNewSuggested; tick++) {
    credit = settings.paused ? 0 : earnCredit(credit, settings.admitPerSecond, input.tickMs, creditedAt, Date.now());
    creditedAt = Date.now();
    // The valve looks at the latency every `adjustEveryMs`, in the same activity call as the tick's
    // admissions: adaptive admission costs no Temporal action of its own.
    // A slow tick (nobody waiting, fans active) looks every time: they come seconds apart.
    const looking: boolean = settings.adaptive && !settings.paused && (slowTick || Date.now() >= nextLookAt);
    if (looking) nextLookAt = Date.now() + adjustEveryMs;
    const sweep = Date.now() >= nextSweepAt;
    if (sweep) nextSweepAt = Date.now() + SWEEP_EVERY_MS;
    // A wake-up that lands while the tick runs is kept: the tick's answer may be "asleep".
    woken = false;
    const tickStarted = Date.now();
    ticksStarted++;
    const result: AdmitResult = await admitFans({
      concertId: input.concertId,
      tickId: `${workflowInfo().runId}:${tick}`,
      maxBatch: Math.floor(credit),
      maxActive: settings.maxActive,
      activeTtlSeconds: input.activeTtlSeconds,
      admitPerSecond: settings.admitPerSecond,
      paused: settings.paused,
      adaptive: settings.adaptive,
      ...(looking && { healthWindowSeconds: healthWindowSeconds(lastAdjustment) }),
      sleepWhenIdle: true,
      sweep,
      admitPerSeat: admitPerSeat(),
    });
    ticksEnded = ticksStarted;
    credit -= result.admitted;
    admittedTotal += result.admitted;
    counts = { waiting: result.waiting, active: result.active };
    // A paused tick may not count the seats: the last count stands until the next.
    const seatsLeft = result.seatsLeft ?? inventory.seatsLeft;
    inventory = { ...(seatsLeft && { seatsLeft }), ...(result.admissionHeld && { admissionHeld: result.admissionHeld }) };
    // An operator's change during the tick wins over the valve's view, taken before it.
    const operatorSpoke = settingsChanged;
    settingsChanged = false;
    const decision = !operatorSpoke && result.health && settings.adaptive && adjustAdmissionRate({ settings, health: result.health, ...counts }, input.latencyTargets ?? DEFAULT_LATENCY_TARGETS);
    if (decision) {
      lastAdjustment = { at: new Date(Date.now()).toISOString(), from: settings.admitPerSecond, ...decision };
      settings = { ...settings, admitPerSecond: decision.to };
    }
    if (result.bookingOver) {
      bookingOver = true;
      break;
    }
    // Only a tick of this code answers soldOut: a recorded history never reaches the patch call.
    if (result.soldOut && patched(ADMISSION_SOLD_OUT_PATCH)) {
      soldOut = true;
      break;
    }
    slowTick = result.asleep === true && result.active > 0;
    if (result.asleep) creditedAt = undefined;
    if (!result.asleep) {
      // Ticks are `tickMs` apart start to start: the time the tick's journey starts took counts. A
      // tick that admitted nobody and still took the interval (a slow count) waits a whole one.
      // The tick's own measure of its time; a tick recorded before it measured itself is timed by
      // the workflow's clock, as it was then.
      const rest = input.tickMs - (result.tookMs ?? Date.now() - tickStarted);
      const followAtOnce = rest <= 0 && result.admitted > 0;
      if (!followAtOnce || !patched(ADMISSION_START_TO_START_PATCH)) await condition(() => settingsChanged, rest > 0 ? rest : input.tickMs);
    } else if (slowTick) await condition(() => woken || settingsChanged, Math.max(input.tickMs, IDLE_TICK_MS));
    else await condition(() => woken || settingsChanged);
  }
  if (soldOut) {
    // The fans still active hold nothing (every seat is sold) and can buy nothing: their sessions
    // end now, the way a cancelled show's do, rather than idling to the end of their windows.
    await endLiveJourneys({ concertId: input.concertId, scheduleIds: [], wholeConcert: true });
  }
  await condition(allHandlersFinished);
  if (bookingOver || soldOut) return;
  await continueAsNew<typeof admissionController>({ ...input, settings, admittedTotal, credit, lastAdjustment });
}
