import { QueryFailedError } from 'typeorm';

/** The Postgres SQLSTATE of a failed query (or Node's socket error code), if it is one. */
export function sqlState(err: unknown): string | undefined {
  const code = err instanceof QueryFailedError ? (err.driverError as { code?: unknown }).code : (err as { code?: unknown } | null)?.code;
  // Other clients' errors carry codes too, not always strings: gRPC's are numbers.
  return typeof code === 'string' ? code : undefined;
}

export const isUniqueViolation = (err: unknown) => sqlState(err) === '23505';
/** Serialization failure or deadlock: safe to run the whole transaction again. */
export const isRetryableConflict = (err: unknown) => ['40001', '40P01'].includes(sqlState(err) ?? '');

const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/** Connection-level failures of PostgreSQL: the dependency is down, not the request wrong. */
export function isConnectionError(err: unknown): boolean {
  if (err instanceof AggregateError && err.errors.some(isConnectionError)) return true; // IPv4 + IPv6 both refused
  const code = sqlState(err);
  if (code && (SOCKET_CODES.has(code) || code.startsWith('08') || code === '57P01' || code === '57P03')) return true;
  const message = String((err as Error | null)?.message ?? '');
  return /Connection terminated|timeout exceeded when trying to connect|terminating connection due to administrator command/i.test(message);
}
