import {
  allHandlersFinished,
  condition,
  continueAsNew,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { AdmissionActivities } from '../activities/admission';
import { refuse } from './failures';
import {
  queueSettingsUpdate,
  queueStateQuery,
  type AdmissionInput,
  type QueueSettings,
  type QueueState,
} from './definitions';

const { admitFans } = proxyActivities<AdmissionActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '200ms', maximumInterval: '5s' },
});

/** Ticks before the controller continues as new, far below Temporal's history limits. */
const DEFAULT_TICKS_PER_RUN = 500;

/**
 * One per concert: each tick admits fans from the head of the waiting queue at `admitPerSecond`,
 * never beyond `maxActive` active fans, and starts their journeys. Operators steer it live through
 * an update; settings and counts go out through a query.
 */
export async function admissionController(input: AdmissionInput): Promise<void> {
  let settings: QueueSettings = { ...input.settings };
  let admittedTotal = input.admittedTotal ?? 0;
  // Fractional admissions carry over between ticks, so 0.5/s admits one fan every two seconds.
  let credit = input.credit ?? 0;
  let counts = { waiting: 0, active: 0 };
  let settingsChanged = false;

  const state = (): QueueState => ({ ...settings, ...counts, admittedTotal });
  setHandler(queueStateQuery, state);
  setHandler(
    queueSettingsUpdate,
    (patch) => {
      settings = { ...settings, ...patch };
      settingsChanged = true;
      return state();
    },
    { validator: validateSettings },
  );

  const ticksPerRun = input.ticksPerRun ?? DEFAULT_TICKS_PER_RUN;
  for (let tick = 0; tick < ticksPerRun && !workflowInfo().continueAsNewSuggested; tick++) {
    const perTick = (settings.admitPerSecond * input.tickMs) / 1000;
    credit = settings.paused ? 0 : Math.min(credit + perTick, Math.max(1, perTick));
    const result = await admitFans({
      concertId: input.concertId,
      tickId: `${workflowInfo().runId}:${tick}`,
      maxBatch: Math.floor(credit),
      maxActive: settings.maxActive,
      activeTtlSeconds: input.activeTtlSeconds,
      admitPerSecond: settings.admitPerSecond,
      paused: settings.paused,
    });
    credit -= result.admitted;
    admittedTotal += result.admitted;
    counts = { waiting: result.waiting, active: result.active };
    settingsChanged = false;
    await condition(() => settingsChanged, input.tickMs);
  }
  await condition(allHandlersFinished);
  await continueAsNew<typeof admissionController>({ ...input, settings, admittedTotal, credit });
}

function validateSettings(patch: Partial<QueueSettings>): void {
  const { admitPerSecond, maxActive, paused } = patch;
  if (admitPerSecond !== undefined && !(Number.isFinite(admitPerSecond) && admitPerSecond > 0 && admitPerSecond <= 10_000)) {
    throw refuse('VALIDATION_FAILED', 'admitPerSecond must be in (0, 10000]');
  }
  if (maxActive !== undefined && !(Number.isInteger(maxActive) && maxActive >= 1 && maxActive <= 1_000_000)) {
    throw refuse('VALIDATION_FAILED', 'maxActive must be an integer in [1, 1000000]');
  }
  if (paused !== undefined && typeof paused !== 'boolean') throw refuse('VALIDATION_FAILED', 'paused must be a boolean');
}
