import { ErrorCodes, type ErrorCode } from './error-codes';

/**
 * A refusal the caller can act on: it carries a stable code and becomes problem+json at the edge.
 * It carries no stack trace: a refusal is an answer, not a fault, and a rush produces them by the
 * thousand (every loser of a contested seat), where capturing a stack is most of their cost.
 */
export class DomainError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string) {
    super(withoutStackTrace(message));
    Error.stackTraceLimit = savedStackTraceLimit;
    this.code = code;
    this.name = 'DomainError';
  }

  get status(): number {
    return ErrorCodes[this.code];
  }
}

let savedStackTraceLimit = Error.stackTraceLimit;

/** Turns stack capture off for the `Error` constructor about to run (the caller restores it). */
function withoutStackTrace(message: string): string {
  savedStackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  return message;
}
