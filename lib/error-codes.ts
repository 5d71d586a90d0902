/**
 * The stable machine codes of API.md. Workflows raise them as `ApplicationFailure` types and the API
 * maps them to HTTP, so this module imports nothing: it is safe inside the workflow sandbox.
 */
export const ErrorCodes = {
  VALIDATION_FAILED: 400,
  UNAUTHENTICATED: 401,
  QUEUE_TOKEN_INVALID: 401,
  QUEUE_TOKEN_NOT_ACTIVE: 403,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  SEAT_UNAVAILABLE: 409,
  HOLD_EXPIRED: 409,
  HOLD_LIMIT_REACHED: 409,
  /** The fan's seats in this concert (sold plus live holds, across journeys) are at the concert's purchase limit. */
  PURCHASE_LIMIT_REACHED: 409,
  RESERVATION_NOT_PAYABLE: 409,
  RESERVATION_NOT_HELD: 409,
  INSUFFICIENT_BALANCE: 409,
  CONCERT_CANCELLED: 409,
  SOLD_OUT: 409,
  /** Another payment of the same journey is in flight: one saga per fan at a time. */
  PAYMENT_IN_PROGRESS: 409,
  /** The concert's sales have not opened: the pre-queue's seed is still secret. */
  SALES_NOT_OPEN: 409,
  /** The waiting fan stopped polling for longer than QUEUE_POSITION_TTL_SECONDS and lost the place. */
  QUEUE_POSITION_EXPIRED: 410,
  IDEMPOTENCY_KEY_REUSED: 422,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  DEPENDENCY_UNAVAILABLE: 503,
  // --- After the sale (issue 22) ---
  /** The show starts within its refund policy's cut-off: no cancellation any more. */
  CANCELLATION_CLOSED: 409,
  /** The ticket was already cancelled and refunded. */
  TICKET_ALREADY_CANCELLED: 409,
  /** The reservation was never paid: release a hold with DELETE /reservations/{id} instead. */
  TICKET_NOT_PAID: 409,
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(ErrorCodes, value);
}
