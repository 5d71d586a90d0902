import { sign } from 'hono/jwt';
import { issueAccessToken, verifiedSubject } from '../../api/auth';

const SECRET = 'a-test-secret-of-some-length';
const USER = '6eeaa225-0582-4a67-ace6-7dabc577586f';
const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('access token verification', () => {
  it('accepts a token it issued and returns its subject', async () => {
    expect(verifiedSubject(await issueAccessToken(USER, SECRET, 60), SECRET)).toBe(USER);
  });

  it('refuses an expired token, another secret, a tampered payload and an unsigned one', async () => {
    const now = Math.floor(Date.now() / 1000);
    expect(verifiedSubject(await issueAccessToken(USER, SECRET, 60, now - 120), SECRET)).toBeNull();
    expect(verifiedSubject(await issueAccessToken(USER, 'another-secret-entirely', 60), SECRET)).toBeNull();
    const [header, , signature] = (await issueAccessToken(USER, SECRET, 60)).split('.');
    const forged = b64({ sub: '00000000-0000-4000-8000-000000000000', exp: now + 60 });
    expect(verifiedSubject(`${header}.${forged}.${signature}`, SECRET)).toBeNull();
    expect(verifiedSubject(`${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: USER, exp: now + 60 })}.`, SECRET)).toBeNull();
  });

  it('refuses a validly signed token without an expiry, with another algorithm, or with a subject that is not a user id', async () => {
    expect(verifiedSubject(await sign({ sub: USER }, SECRET, 'HS256'), SECRET)).toBeNull();
    expect(verifiedSubject(await sign({ sub: USER, exp: Date.now() / 1000 + 60 }, SECRET, 'HS512'), SECRET)).toBeNull();
    expect(verifiedSubject(await sign({ sub: 'admin', exp: Date.now() / 1000 + 60 }, SECRET, 'HS256'), SECRET)).toBeNull();
  });
});
