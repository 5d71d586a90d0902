/** Every scenario of `npm run bench`, in run order: ceilings first, on a quiet stack; then the product, reads before writes. */
import type { Scenario } from '../lib/scenario';
import { abuseLoop } from './abuse-loop';
import { admission } from './admission';
import { contestedSeat } from './contested-seat';
import { hold } from './hold';
import { http } from './http';
import { join } from './join';
import { massExpiry } from './mass-expiry';
import { pay } from './pay';
import { pgHotRow } from './pg-hot-row';
import { redis } from './redis';
import { refundSweep } from './refund-sweep';
import { rush } from './rush';
import { seats, seats304 } from './seats';
import { sellOut } from './sell-out';
import { status } from './status';
import { temporalJourneyHold, temporalJourneyPay } from './temporal-journey';
import { temporalPay } from './temporal-pay';
import { temporalStart } from './temporal-start';
import { temporalStartEager } from './temporal-start-eager';
import { temporalTimers } from './temporal-timers';
import { temporalUpdate } from './temporal-update';
import { walletCharge } from './wallet-charge';
import { walletRead } from './wallet-read';

export const SCENARIOS: Scenario[] = [
  http, redis, pgHotRow, temporalUpdate, temporalStart, temporalStartEager, temporalPay, temporalJourneyHold, temporalJourneyPay, temporalTimers,
  join, status, walletCharge, walletRead, admission, seats, seats304, hold, contestedSeat, pay, abuseLoop, rush, sellOut, massExpiry, refundSweep,
];
