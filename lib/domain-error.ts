import { ErrorCodes, type ErrorCode } from './error-codes';

/** A refusal the caller can act on: it carries a stable code and becomes problem+json at the edge. */
export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'DomainError';
  }

  get status(): number {
    return ErrorCodes[this.code];
  }
}
