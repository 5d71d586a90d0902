import {
  allHandlersFinished,
  condition,
  continueAsNew,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { adjustAdmissionRate, DEFAULT_LATENCY_TARGETS } from '../admission-valve';
import { healthWindowSeconds, validateSettings } from '../queue-settings';
import type { AdmissionActivities } from '../../activities/admission';
import {
  queueSettingsUpdate,
  queueStateQuery,
  type AdmissionInput,
  type QueueSettings,
  type QueueState,
  type RateAdjustment,
} from '../definitions';

const { admitFans } = proxyActivities<AdmissionActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '200ms', maximumInterval: '5s' },
});

/** Ticks before the controller continues as new, far below Temporal's history limits. */
const DEFAULT_TICKS_PER_RUN = 500;
const DEFAULT_ADJUST_EVERY_MS = 5_000;

/**
 * The admission controller as it ran before the `admission-v2` patch (workflows/admission-controller.ts):
 * kept so that a run started by that code replays and runs on until it continues as new, which
 * starts the current code. Delete once every controller has continued as new since the patch.
 */
export async function legacyAdmissionController(input: AdmissionInput): Promise<void> {
  let settings: QueueSettings = {
    adaptive: false,
    minAdmitPerSecond: Math.min(1, input.settings.admitPerSecond),
    maxAdmitPerSecond: Math.max(input.settings.admitPerSecond, 10_000),
    ...input.settings,
  };
  let admittedTotal = input.admittedTotal ?? 0;
  // Fractional admissions carry over between ticks, so 0.5/s admits one fan every two seconds.
  let credit = input.credit ?? 0;
  let lastAdjustment: RateAdjustment | undefined = input.lastAdjustment;
  let counts = { waiting: 0, active: 0 };
  let settingsChanged = false;

  const state = (): QueueState => ({ ...settings, ...counts, admittedTotal, ...(lastAdjustment && { lastAdjustment }) });
  setHandler(queueStateQuery, state);
  setHandler(
    queueSettingsUpdate,
    (patch) => {
      settings = { ...settings, ...patch };
      settingsChanged = true;
      return state();
    },
    { validator: (patch) => validateSettings(patch, settings) },
  );

  const ticksPerRun = input.ticksPerRun ?? DEFAULT_TICKS_PER_RUN;
  const ticksPerLook = Math.max(1, Math.round((input.adjustEveryMs ?? DEFAULT_ADJUST_EVERY_MS) / input.tickMs));
  for (let tick = 0; tick < ticksPerRun && !workflowInfo().continueAsNewSuggested; tick++) {
    const perTick = (settings.admitPerSecond * input.tickMs) / 1000;
    credit = settings.paused ? 0 : Math.min(credit + perTick, Math.max(1, perTick));
    // The valve looks at the latency every few ticks, in the same activity call as the tick's
    // admissions: adaptive admission costs no Temporal action of its own.
    const looking = settings.adaptive && !settings.paused && tick % ticksPerLook === ticksPerLook - 1;
    const result = await admitFans({
      concertId: input.concertId,
      tickId: `${workflowInfo().runId}:${tick}`,
      maxBatch: Math.floor(credit),
      maxActive: settings.maxActive,
      activeTtlSeconds: input.activeTtlSeconds,
      admitPerSecond: settings.admitPerSecond,
      paused: settings.paused,
      adaptive: settings.adaptive,
      ...(looking && { healthWindowSeconds: healthWindowSeconds(lastAdjustment) }),
    });
    credit -= result.admitted;
    admittedTotal += result.admitted;
    counts = { waiting: result.waiting, active: result.active };
    // An operator's change during the tick wins over the valve's view, taken before it.
    const operatorSpoke = settingsChanged;
    settingsChanged = false;
    const decision = !operatorSpoke && result.health && settings.adaptive && adjustAdmissionRate({ settings, health: result.health, ...counts }, input.latencyTargets ?? DEFAULT_LATENCY_TARGETS);
    if (decision) {
      lastAdjustment = { at: new Date(Date.now()).toISOString(), from: settings.admitPerSecond, ...decision };
      settings = { ...settings, admitPerSecond: decision.to };
    }
    await condition(() => settingsChanged, input.tickMs);
  }
  await condition(allHandlersFinished);
  await continueAsNew<typeof legacyAdmissionController>({ ...input, settings, admittedTotal, credit, lastAdjustment });
}
