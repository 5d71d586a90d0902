import { randomUUID } from 'node:crypto';
import { formatToken, newTokenSecret, parseToken } from '../../queue/token';

const concertId = randomUUID();
const secret = newTokenSecret();
const valid = formatToken(concertId, secret);

describe('a well-formed queue token', () => {
  it('parses back to its concert and secret', () => {
    expect(parseToken(valid)).toEqual({ concertId, secret });
  });

  it('routes to the concert it names, whichever that is', () => {
    const other = randomUUID();
    expect(parseToken(formatToken(other, secret))).toEqual({ concertId: other, secret });
  });
});

describe('anything that is not exactly a token is refused before Redis is asked', () => {
  it.each([
    ['a glob star', '*'],
    ['a glob question mark', '?'],
    ['a glob character class', '[a-z]*'],
    ['a concert with a glob secret', `${concertId}.*`],
    ['a glob concert with a real secret', `*.${secret}`],
    ['a prefix of a valid token', valid.slice(0, -1)],
    ['the concert part alone', concertId],
    ['a valid token with an extra character', `${valid}A`],
    ['a valid token with a trailing newline', `${valid}\n`],
    ['a valid token with a leading space', ` ${valid}`],
    ['a concert part that is not a UUID', `concert-1.${secret}`],
    ['a concert part one character short', `${concertId.slice(1)}.${secret}`],
    ['an upper-case concert part', `${concertId.toUpperCase()}.${secret}`],
    ['a secret with characters outside base64url', `${concertId}.${secret.slice(0, -1)}+`],
    ['a missing separator', `${concertId}${secret}`],
    ['the empty string', ''],
  ])('%s', (_what, token) => {
    expect(parseToken(token)).toBeNull();
  });

  it('undefined and null', () => {
    expect(parseToken(undefined)).toBeNull();
    expect(parseToken(null)).toBeNull();
  });
});

describe('token secrets', () => {
  it('carry at least 128 random bits (32 base64url characters)', () => {
    const s = newTokenSecret();
    expect(s).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(s.length).toBeGreaterThanOrEqual(32);
    expect(s.length * 6).toBeGreaterThanOrEqual(128);
  });

  it('differ on every call, across several refills of the pool they are cut from, and parse back', () => {
    const secrets = Array.from({ length: 1000 }, () => newTokenSecret());
    expect(new Set(secrets).size).toBe(secrets.length);
    expect(secrets.every((s) => /^[A-Za-z0-9_-]{32}$/.test(s))).toBe(true);
    expect(secrets.every((s) => parseToken(formatToken(concertId, s))?.secret === s)).toBe(true);
  });
});
