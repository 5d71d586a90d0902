/**
 * The contract between the API, the worker and the workflows: message definitions, payloads,
 * workflow ids and search attributes. It imports only the SDK's workflow-safe packages, so
 * the API can use it without pulling workflow code, and the workflow bundle without pulling I/O.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';

export const DEFAULT_TASK_QUEUE = 'ovation';

export const journeyWorkflowId = (concertId: string, userId: string, arrival: number) =>
  `journey-${concertId}-${userId}-${arrival}`;
export const admissionWorkflowId = (concertId: string) => `admission-${concertId}`;

// --- Search attributes: "everything user Y did" is one visibility query ---------------------------
export const searchAttributes = {
  userId: defineSearchAttributeKey('UserId', SearchAttributeType.KEYWORD),
  concertId: defineSearchAttributeKey('ConcertId', SearchAttributeType.KEYWORD),
  journeyStatus: defineSearchAttributeKey('JourneyStatus', SearchAttributeType.KEYWORD),
  scheduleIds: defineSearchAttributeKey('ScheduleIds', SearchAttributeType.KEYWORD_LIST),
  /** `<scheduleId>:<seatNumber>` of every seat the journey held. */
  seats: defineSearchAttributeKey('Seats', SearchAttributeType.KEYWORD_LIST),
  reservationIds: defineSearchAttributeKey('ReservationIds', SearchAttributeType.KEYWORD_LIST),
  paymentStartedAt: defineSearchAttributeKey('PaymentStartedAt', SearchAttributeType.DATETIME),
} as const;

/** For provisioning: `--search-attribute Name=Type` of the dev server and the compose setup job. */
export const SEARCH_ATTRIBUTE_TYPES: Record<string, string> = {
  UserId: 'Keyword',
  ConcertId: 'Keyword',
  JourneyStatus: 'Keyword',
  ScheduleIds: 'KeywordList',
  Seats: 'KeywordList',
  ReservationIds: 'KeywordList',
  PaymentStartedAt: 'Datetime',
};

// --- Fan journey -----------------------------------------------------------------------------------
/** ACTIVE while the window is open; PAYING while a payment is in flight; then how it ended. */
/** NO_SHOW: admitted, but the fan made no request within NO_SHOW_SECONDS (issue 21). */
export type JourneyStatus = 'ACTIVE' | 'PAYING' | 'COMPLETED' | 'EXPIRED' | 'LEFT' | 'NO_SHOW';

export interface JourneyInput {
  concertId: string;
  userId: string;
  /**
   * The queue token of journeys started before issue 23. A credential has no place in a history
   * (anyone reading the Temporal UI or an exported history would hold a live token): new journeys
   * carry none and end their session by the fan's id and `arrival` (the END_SESSION script finds the
   * session through the fan's pointer).
   */
  token?: string;
  /** The fan's arrival number in the concert's queue: with the user id, it names the session. */
  arrival: number;
  /** End of the active window, epoch ms. No hold outlives it. */
  activeUntil: number;
  /**
   * An admitted fan who makes no request within this many seconds of the journey's start loses the
   * window (NO_SHOW). Absent in journeys started before issue 21: they never end NO_SHOW.
   */
  noShowSeconds?: number;
  holdTtlSeconds: number;
  holdGraceSeconds: number;
  maxHolds: number;
  /** The journey's budget (absent in journeys started before issue 23: `JOURNEY_BUDGET`). */
  maxHoldAttempts?: number;
  maxUpdates?: number;
}

export interface JourneySettings {
  /** NO_SHOW_SECONDS; journeys started without it never end NO_SHOW. */
  noShowSeconds?: number;
  holdTtlSeconds: number;
  holdGraceSeconds: number;
  maxHolds: number;
  maxHoldAttempts?: number;
  maxUpdates?: number;
}

/**
 * What one journey may ask of Temporal: Temporal itself caps a workflow at 10 updates in flight and
 * 2,000 in total, and a journey that reaches either cap is stuck (every later update fails). The
 * journey's validators refuse RATE_LIMITED well before: a hold/cancel loop stops at `holdAttempts`
 * and the fan can still pay or leave; `updates` (every accepted update but a leave) stays far below
 * 2,000; `inFlight` below 10.
 */
export const JOURNEY_BUDGET = { holdAttempts: 100, updates: 500, inFlight: 8 } as const;

/** The same input whoever starts the journey first: the controller's activity or the API's Update-with-Start. */
export function journeyInput(
  fan: { concertId: string; userId: string; arrival: number; activeUntil: number; token?: string },
  settings: JourneySettings,
): JourneyInput {
  // Picked field by field: nothing else the caller's ticket carries (its token) reaches the history.
  const { concertId, userId, arrival, activeUntil } = fan;
  const { maxHoldAttempts, maxUpdates, noShowSeconds, ...always } = settings;
  return {
    concertId, userId, arrival, activeUntil, ...always,
    ...(noShowSeconds !== undefined && { noShowSeconds }),
    ...(maxHoldAttempts !== undefined && { maxHoldAttempts }),
    ...(maxUpdates !== undefined && { maxUpdates }),
  };
}

export type HoldStatus = 'HELD' | 'CONFIRMED' | 'EXPIRED' | 'CANCELLED';

export interface HoldRequest {
  scheduleId: string;
  seatNumber: number;
  /** Chosen by the API, so a retried update returns the same hold. */
  reservationId: string;
}

export interface HeldSeat {
  reservationId: string;
  scheduleId: string;
  seatId: string;
  seatNumber: number;
  price: number;
  status: HoldStatus;
  /** ISO-8601. */
  heldUntil: string;
}

export interface CancelRequest {
  reservationId: string;
}

export interface PayRequest {
  /** The order's first seat (its only one in a one-seat order). */
  reservationId: string;
  /**
   * Every seat of an order of several, `reservationId` first (issue 21); absent for one seat, so a
   * one-seat payment is the same update as before orders existed.
   */
  reservationIds?: string[];
  /** Chosen by the API: the order's id; the ledger keys `payment:<id>:debit` / `:refund` derive from it. */
  paymentId: string;
}

export interface PaymentReceipt {
  paymentId: string;
  /** The order's first seat (its only one in a one-seat order). */
  reservationId: string;
  /** Every seat the order bought, in the order the request named them. */
  reservationIds?: string[];
  /** The order's total: one debit. */
  amount: number;
  status: 'COMPLETED';
  balance: number;
}

export interface JourneySnapshot {
  status: JourneyStatus;
  activeUntil: number;
  holds: HeldSeat[];
}

export const holdUpdate = defineUpdate<HeldSeat, [HoldRequest]>('hold');
export const cancelUpdate = defineUpdate<HeldSeat, [CancelRequest]>('cancel');
export const payUpdate = defineUpdate<PaymentReceipt, [PayRequest]>('pay');
export const leaveUpdate = defineUpdate<JourneySnapshot, []>('leave');
export const journeyQuery = defineQuery<JourneySnapshot>('journey');

// --- Admission controller --------------------------------------------------------------------------
export interface QueueSettings {
  admitPerSecond: number;
  maxActive: number;
  paused: boolean;
  /** When on, the controller moves `admitPerSecond` within the bounds by itself (admission-valve.ts). */
  adaptive: boolean;
  minAdmitPerSecond: number;
  maxAdmitPerSecond: number;
  /**
   * Admitted fans per seat left to buy (bookable plus held): the controller keeps the active fans
   * at or under ceil(seats left × this). Optional: controllers started before it carry none and
   * take the default (QUEUE_ADMIT_PER_SEAT_FACTOR's, 1).
   */
  admitPerSeat?: number;
}

/** What the operator may change live: every setting, each optional. */
export type QueueSettingsPatch = Partial<QueueSettings>;

/** The valve's last change of `admitPerSecond`: when, from what, to what, and why. */
export interface RateAdjustment {
  at: string;
  from: number;
  to: number;
  reason: string;
}

/** The latency the valve steers by: p95 of holds and payments over the last window, as served. */
export interface ServiceHealth {
  holdP95Ms?: number;
  holds: number;
  payP95Ms?: number;
  payments: number;
}

/** The latency targets the valve keeps (p95, ms); exceeding either one backs admission off. */
export interface LatencyTargets {
  holdP95Ms: number;
  payP95Ms: number;
}

/** Why waiting fans are not being admitted although the queue is open (the status answer's `reason`). */
export type AdmissionHeldReason = 'PAUSED_BY_OPERATOR' | 'ALL_SEATS_HELD' | 'ADMITTED_UP_TO_SEATS_LEFT';

/** The field of the queue's settings hash (Redis) where the controller publishes the reason, for the status answers. */
export const ADMISSION_HELD_FIELD = 'admissionHeld';

/** A concert's seats left to buy in its schedules still on sale, as the last tick counted them. */
export interface SeatsLeft {
  /** Available, or held past the hold's deadline + grace. */
  bookable: number;
  /** Held by a fan whose hold is still live: it comes back if the hold expires or is cancelled. */
  held: number;
}

export interface QueueState extends QueueSettings {
  waiting: number;
  active: number;
  admittedTotal: number;
  lastAdjustment?: RateAdjustment;
  /** Counted by the last tick (absent before the first, and from controllers older than the count). */
  seatsLeft?: SeatsLeft;
  admissionHeld?: AdmissionHeldReason;
  /** Every seat is sold: the queue closed with reason SOLD_OUT and the controller ends. */
  soldOut?: boolean;
}

export interface AdmissionInput {
  concertId: string;
  /** Controllers started before the valve existed carry only the first three settings. */
  settings: Pick<QueueSettings, 'admitPerSecond' | 'maxActive' | 'paused'> & Partial<QueueSettings>;
  activeTtlSeconds: number;
  tickMs: number;
  /** Default: 500 ms for holds, 1,500 ms for payments (two activities in a row). */
  latencyTargets?: LatencyTargets;
  /** How often the valve looks at the latency and may move the rate (default 5,000 ms). */
  adjustEveryMs?: number;
  /** Ticks per run before continue-as-new (default 500). */
  ticksPerRun?: number;
  /** Carried across continue-as-new. */
  admittedTotal?: number;
  credit?: number;
  lastAdjustment?: RateAdjustment;
}

export const queueSettingsUpdate = defineUpdate<QueueState, [QueueSettingsPatch]>('queueSettings');
export const queueStateQuery = defineQuery<QueueState>('queueState');
/** Sent (with start) by the API when the first fan joins a queue whose controller sleeps. */
export const wakeAdmissionSignal = defineSignal<[]>('wake');

// --- Request context --------------------------------------------------------------------------------
/**
 * The Temporal header that carries the id of the HTTP request which caused a start or an update, so
 * the workflow's and its activities' logs can be joined to the API's request log.
 */
export const REQUEST_ID_HEADER = 'ovation-request-id';

// === After the sale (issue 22): a fan cancels a ticket, an operator cancels a show ================
export const ticketCancellationWorkflowId = (reservationId: string) => `ticket-cancellation-${reservationId}`;
/** One show cancellation per concert, or per schedule when only one date is called off. */
export const showCancellationWorkflowId = (concertId: string, scheduleId?: string) =>
  scheduleId ? `show-cancellation-${concertId}-${scheduleId}` : `show-cancellation-${concertId}`;

/** A show cancellation's progress in the Temporal UI's list: bounded numbers, upserted per batch. */
export const afterSaleSearchAttributes = {
  cancellationStatus: defineSearchAttributeKey('CancellationStatus', SearchAttributeType.KEYWORD),
  ticketsToRefund: defineSearchAttributeKey('TicketsToRefund', SearchAttributeType.INT),
  ticketsRefunded: defineSearchAttributeKey('TicketsRefunded', SearchAttributeType.INT),
  // Double, not Int: the dev server allows three Int attributes per namespace; KRW stay exact below 2^53.
  refundedAmount: defineSearchAttributeKey('RefundedAmount', SearchAttributeType.DOUBLE),
  refundFailures: defineSearchAttributeKey('RefundFailures', SearchAttributeType.INT),
} as const;

/** For provisioning, beside SEARCH_ATTRIBUTE_TYPES. */
export const AFTER_SALE_SEARCH_ATTRIBUTE_TYPES: Record<string, string> = {
  CancellationStatus: 'Keyword',
  TicketsToRefund: 'Int',
  TicketsRefunded: 'Int',
  RefundedAmount: 'Double',
  RefundFailures: 'Int',
};

export interface TicketCancellationInput {
  reservationId: string;
  userId: string;
  /** When the fan asked (ISO-8601, the API's clock): the policy is applied as of then, retries or not. */
  requestedAt: string;
}

export interface TicketCancellationResult {
  reservationId: string;
  paymentId: string;
  status: 'CANCELLED';
  paymentStatus: 'REFUNDED' | 'PARTIALLY_REFUNDED';
  paid: number;
  refunded: number;
  fee: number;
  refundedAt: string;
}

/** CLOSING: sales stopped and live journeys ending; REFUNDING: batches running; COMPLETED: the report. */
export type ShowCancellationStatus = 'CLOSING' | 'REFUNDING' | 'COMPLETED';

export interface ShowCancellationProgress {
  concertId: string;
  scheduleId?: string;
  scheduleIds: string[];
  status: ShowCancellationStatus;
  /** Tickets refunded per second at most; the operator changes it live (`refundRateUpdate`). */
  ratePerSecond: number;
  /** Paid tickets when the cancellation began. */
  total: number;
  refunded: number;
  remaining: number;
  /** KRW refunded so far. */
  amount: number;
  /** Batch attempts that failed (each is retried until it succeeds). */
  failures: number;
  lastFailure?: string;
  journeysEnded: number;
  startedAt: string;
  finishedAt?: string;
}

export interface ShowCancellationInput {
  concertId: string;
  scheduleId?: string;
  ratePerSecond: number;
  /** Tickets per batch: one activity and one SQL transaction each. */
  batchSize: number;
  /** Carried across continue-as-new. */
  progress?: ShowCancellationProgress;
}

export const MAX_REFUND_RATE_PER_SECOND = 10_000;
export const refundRateUpdate = defineUpdate<ShowCancellationProgress, [{ ratePerSecond: number }]>('refundRate');
export const showCancellationQuery = defineQuery<ShowCancellationProgress>('cancellationProgress');
