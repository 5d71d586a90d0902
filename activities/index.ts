import { createAdmissionActivities, type AdmissionDeps } from './admission';
import { createAfterSaleActivities } from './after-sale';
import { createJourneyActivities, type JourneyDeps } from './journey';

export type ActivityDeps = JourneyDeps & AdmissionDeps;

/** Every activity of the worker, built once over explicit dependencies (tests pass their own). */
export function createActivities(deps: ActivityDeps) {
  return { ...createJourneyActivities(deps), ...createAdmissionActivities(deps), ...createAfterSaleActivities(deps) };
}

export type Activities = ReturnType<typeof createActivities>;
