import { CatalogStore } from '../../db/stores/catalog';
import { IdempotencyStore } from '../../db/stores/idempotency';
import { ReservationStore } from '../../db/stores/reservations';
import { WalletStore } from '../../db/stores/wallets';
import { Journeys } from '../../lib/journeys';
import { LatencyWindow } from '../../queue/latency-window';
import { SeatGate } from '../../queue/seat-gate';
import { WaitingRoom } from '../../queue/waiting-room';
import type { AppDeps } from '../deps';
import { ScheduleRefs } from '../schedule-refs';
import { cancelHoldUseCase } from './cancel';
import { chargeWalletUseCase } from './charge';
import { holdSeatUseCase } from './hold';
import { payUseCase } from './pay';

/** How long a hold's or payment's latency waits to share a round trip to Redis with others (queue/latency-window.ts). */
const LATENCY_BATCH_MS = 100;

/**
 * The API's use cases and the stores and clients they share, built once per app by `createApp`:
 * routes parse, call one of these, and answer.
 */
export function createUseCases(deps: AppDeps) {
  const reservations = new ReservationStore(deps.db, deps.config.HOLD_GRACE_SECONDS);
  const wallets = new WalletStore(deps.db);
  const journeys = new Journeys(deps.temporal, deps.config, new LatencyWindow(deps.redis, Date.now, LATENCY_BATCH_MS));
  const schedules = new ScheduleRefs(new CatalogStore(deps.db));
  return {
    reservations,
    schedules,
    wallets,
    idempotency: new IdempotencyStore(deps.db),
    holdSeat: holdSeatUseCase({
      config: deps.config,
      metrics: deps.metrics,
      schedules,
      reservations,
      gate: new SeatGate(deps.redis),
      room: new WaitingRoom(deps.redis),
      journeys,
    }),
    pay: payUseCase({ metrics: deps.metrics, reservations, wallets, journeys, maxSeatsPerOrder: deps.config.MAX_HOLDS_PER_FAN }),
    cancelHold: cancelHoldUseCase({ reservations, journeys }),
    chargeWallet: chargeWalletUseCase({ wallets }),
  };
}

export type UseCases = ReturnType<typeof createUseCases>;
