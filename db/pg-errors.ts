import { QueryFailedError } from 'typeorm';

/** The Postgres SQLSTATE of a failed query, if it is one. */
export function sqlState(err: unknown): string | undefined {
  if (err instanceof QueryFailedError) return (err.driverError as { code?: string }).code;
  return (err as { code?: string } | null)?.code;
}

export const isUniqueViolation = (err: unknown) => sqlState(err) === '23505';
/** Serialization failure or deadlock: safe to run the whole transaction again. */
export const isRetryableConflict = (err: unknown) => ['40001', '40P01'].includes(sqlState(err) ?? '');

/** Connection-level failures: the dependency is down, not the request wrong. */
export function isConnectionError(err: unknown): boolean {
  const code = sqlState(err);
  if (code && (code.startsWith('08') || code === '57P01' || code === '57P03')) return true;
  const message = String((err as Error | null)?.message ?? '');
  return /ECONNREFUSED|ECONNRESET|Connection terminated|timeout exceeded when trying to connect|connect ETIMEDOUT|terminating connection/i.test(message);
}
