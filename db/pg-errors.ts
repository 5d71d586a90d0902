import { QueryFailedError } from 'typeorm';

/** The Postgres SQLSTATE of a failed query (or Node's socket error code), if it is one. */
export function sqlState(err: unknown): string | undefined {
  const code = err instanceof QueryFailedError ? (err.driverError as { code?: unknown }).code : (err as { code?: unknown } | null)?.code;
  // Other clients' errors carry codes too, not always strings: gRPC's are numbers.
  return typeof code === 'string' ? code : undefined;
}

/** Raised by the purchase-limit trigger on reservations (migration 1765400000000), a class of our own. */
export const PURCHASE_LIMIT_SQLSTATE = 'OV001';
export const isPurchaseLimit = (err: unknown) => sqlState(err) === PURCHASE_LIMIT_SQLSTATE;

export const isUniqueViolation = (err: unknown) => sqlState(err) === '23505';
/** Serialization failure or deadlock: safe to run the whole transaction again. */
export const isRetryableConflict = (err: unknown) => ['40001', '40P01'].includes(sqlState(err) ?? '');

const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * node-postgres and its pool reject with plain `Error`s when the connection is lost or cannot be had
 * (no class, no SQLSTATE), so these are their exact messages; test/unit/pg-errors.test.ts provokes the
 * common ones from the real library, so an upgrade that rewords one fails there.
 */
const CONNECTION_LOST = new Set([
  'Connection terminated unexpectedly',
  'Connection terminated',
  'Connection terminated due to connection timeout',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error and is not queryable',
  'Client was closed and is not queryable',
]);

/** Connection-level failures of PostgreSQL: the dependency is down, not the request wrong. */
export function isConnectionError(err: unknown): boolean {
  if (err instanceof AggregateError && err.errors.some(isConnectionError)) return true; // IPv4 + IPv6 both refused
  const code = sqlState(err);
  // Class 08: connection exception; 57P01-03: the server is shutting down or starting.
  if (code && (SOCKET_CODES.has(code) || code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03')) return true;
  const driverError = err instanceof QueryFailedError ? err.driverError : err;
  return driverError instanceof Error && CONNECTION_LOST.has(driverError.message);
}
