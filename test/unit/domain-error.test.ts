import { DomainError } from '../../lib/domain-error';

describe('a refusal', () => {
  it('carries its code, status and message but no stack frames, and leaves other errors their stacks', () => {
    const limit = Error.stackTraceLimit;
    const refusal = new DomainError('SEAT_UNAVAILABLE', 'the seat is taken');
    expect(refusal).toBeInstanceOf(Error);
    expect(refusal).toMatchObject({ code: 'SEAT_UNAVAILABLE', status: 409, message: 'the seat is taken', name: 'DomainError' });
    expect(refusal.stack).not.toMatch(/\n\s+at /);
    expect(Error.stackTraceLimit).toBe(limit);
    expect(new Error('a fault').stack).toMatch(/\n\s+at /);
  });
});
