import type { Scenario } from '../lib/scenario';
import { PRODUCT_SETTINGS } from '../lib/stack';

/**
 * Admission of a waiting queue: the controller moves fans to the active set and starts each one's
 * journey (a workflow start per fan, 16 in flight, eager: the worker takes each journey's first
 * task from the start's answer). Measured while the shared pool of fans is admitted: the queue
 * opens with every fan waiting, and the rate is journeys started per second.
 */
export const admission: Scenario = {
  name: 'admission',
  kind: 'product',
  what: `the shared pool's fans, all waiting, admitted once the queue opens (QUEUE_ADMIT_PER_SECOND=${PRODUCT_SETTINGS.QUEUE_ADMIT_PER_SECOND}, tick ${PRODUCT_SETTINGS.ADMISSION_TICK_MS} ms); latencies are each fan's wait from the opening to its journey's start`,
  // Journeys are started eagerly from the worker (activities/admission.ts): temporal-start-eager is
  // the same shape; temporal-start (an ordinary start from another process) is the yardstick.
  ceilings: ['temporal-start', 'temporal-start-eager'],
  targets: [
    { label: '≥ 85 % of temporal-start', minShareOf: { ceiling: 'temporal-start', share: 0.85 } },
    { label: '≥ 85 % of temporal-start-eager', minShareOf: { ceiling: 'temporal-start-eager', share: 0.85 } },
  ],
  async run(ctx) {
    await ctx.stack.product();
    await ctx.fixtures.fans();
    const measured = ctx.fixtures.admission;
    if (!measured) throw new Error('the pool was admitted before this run measured it');
    measured.notes.push(`${measured.requests} journeys started in ${measured.durationS.toFixed(1)} s after the queue opened`);
    return [measured];
  },
};
