import { ConfigError, loadConfig, loadDatabaseUrl } from '../../lib/config';

const DEV = { NODE_ENV: 'development' };

describe('settings in development mode with nothing else in the environment', () => {
  it('start local development with the documented defaults', () => {
    const config = loadConfig(DEV);
    expect(config).toMatchObject({
      NODE_ENV: 'development',
      DATABASE_URL: expect.stringMatching(/^postgres:\/\//),
      REDIS_URL: expect.stringMatching(/^redis:\/\//),
      TEMPORAL_ADDRESS: '127.0.0.1:7233',
      TEMPORAL_NAMESPACE: 'default',
      TEMPORAL_TASK_QUEUE: 'ovation',
      PORT: 3000,
      HOLD_TTL_SECONDS: 300,
      HOLD_GRACE_SECONDS: 3,
      MAX_HOLDS_PER_FAN: 4,
      ACTIVE_TOKEN_TTL_SECONDS: 600,
      QUEUE_ADMIT_PER_SECOND: 50,
      QUEUE_MAX_ACTIVE: 1000,
    });
  });

  it('give development working secrets so the API can sign tokens and check the admin key', () => {
    const config = loadConfig(DEV);
    expect(config.AUTH_SECRET.length).toBeGreaterThanOrEqual(16);
    expect(config.ADMIN_API_KEY.length).toBeGreaterThanOrEqual(8);
  });

  it('read numbers given as strings', () => {
    const config = loadConfig({ ...DEV, PORT: '8080', HOLD_TTL_SECONDS: '120', HOLD_GRACE_SECONDS: '0', QUEUE_ADMIT_PER_SECOND: '2.5' });
    expect(config).toMatchObject({ PORT: 8080, HOLD_TTL_SECONDS: 120, HOLD_GRACE_SECONDS: 0, QUEUE_ADMIT_PER_SECOND: 2.5 });
  });
});

describe('invalid settings are refused at start-up', () => {
  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['PORT', '-1'],
    ['HOLD_TTL_SECONDS', '0'],
    ['HOLD_TTL_SECONDS', '-5'],
    ['HOLD_TTL_SECONDS', '1.5'],
    ['HOLD_GRACE_SECONDS', '-1'],
    ['MAX_HOLDS_PER_FAN', '0'],
    ['ACTIVE_TOKEN_TTL_SECONDS', 'ten minutes'],
    ['QUEUE_ADMIT_PER_SECOND', '0'],
    ['QUEUE_MAX_ACTIVE', '-10'],
    ['DATABASE_URL', 'not a url'],
    ['REDIS_URL', 'redis on port 6379'],
    ['NODE_ENV', 'staging'],
    ['LOG_LEVEL', 'loud'],
    ['AUTH_SECRET', 'short'],
    ['ADMIN_API_KEY', 'key'],
  ])('%s=%j is a ConfigError naming the setting', (name, value) => {
    expect(() => loadConfig({ ...DEV, [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ ...DEV, [name]: value })).toThrow(name);
  });
});

describe('secrets in production', () => {
  const AUTH_SECRET = 'a-production-secret-of-enough-length';
  const ADMIN_API_KEY = 'a-production-admin-key';

  it('without AUTH_SECRET is a ConfigError naming AUTH_SECRET', () => {
    const start = () => loadConfig({ NODE_ENV: 'production', ADMIN_API_KEY });
    expect(start).toThrow(ConfigError);
    expect(start).toThrow('AUTH_SECRET');
  });

  it('without ADMIN_API_KEY is a ConfigError naming ADMIN_API_KEY', () => {
    const start = () => loadConfig({ NODE_ENV: 'production', AUTH_SECRET });
    expect(start).toThrow(ConfigError);
    expect(start).toThrow('ADMIN_API_KEY');
  });

  it('without either is a ConfigError naming both', () => {
    const start = () => loadConfig({ NODE_ENV: 'production' });
    expect(start).toThrow(ConfigError);
    expect(start).toThrow(/AUTH_SECRET.*ADMIN_API_KEY|ADMIN_API_KEY.*AUTH_SECRET/);
  });

  it('never falls back to the development secrets', () => {
    const dev = loadConfig(DEV);
    expect(() => loadConfig({ NODE_ENV: 'production', AUTH_SECRET: '', ADMIN_API_KEY })).toThrow(ConfigError);
    expect(loadConfig({ NODE_ENV: 'production', AUTH_SECRET, ADMIN_API_KEY }).AUTH_SECRET).not.toBe(dev.AUTH_SECRET);
  });

  it('with both secrets starts and uses them', () => {
    const config = loadConfig({ NODE_ENV: 'production', AUTH_SECRET, ADMIN_API_KEY });
    expect(config).toMatchObject({ NODE_ENV: 'production', AUTH_SECRET, ADMIN_API_KEY });
  });
});

describe('secure by default (issue 23)', () => {
  it.each([
    ['no NODE_ENV at all', {}],
    ['NODE_ENV=production', { NODE_ENV: 'production' }],
  ])('with %s, missing secrets stop start-up, naming both and how to develop locally', (_what, env) => {
    const start = () => loadConfig(env);
    expect(start).toThrow(ConfigError);
    expect(start).toThrow(/AUTH_SECRET.*ADMIN_API_KEY/);
    expect(start).toThrow(/NODE_ENV=development/);
  });

  it.each(['development', 'test'])('NODE_ENV=%s runs on the development secrets', (NODE_ENV) => {
    expect(loadConfig({ NODE_ENV }).ADMIN_API_KEY).toBe('ovation-dev-admin-key');
  });

  it('the database tools (migrate, seed, the invariant check) need only DATABASE_URL, no secret', () => {
    expect(loadDatabaseUrl({})).toMatch(/^postgres:\/\//);
    expect(loadDatabaseUrl({ DATABASE_URL: 'postgres://u:p@db:5432/x' })).toBe('postgres://u:p@db:5432/x');
    expect(() => loadDatabaseUrl({ DATABASE_URL: 'not a url' })).toThrow('DATABASE_URL');
  });

  it('without NODE_ENV but with both secrets starts and uses them', () => {
    const AUTH_SECRET = 'an-operator-chosen-secret-of-length';
    const ADMIN_API_KEY = 'an-operator-admin-key';
    expect(loadConfig({ AUTH_SECRET, ADMIN_API_KEY })).toMatchObject({ AUTH_SECRET, ADMIN_API_KEY });
  });

  it('has limits on every costly action that a fan never meets, and a journey budget below Temporal’s caps', () => {
    const config = loadConfig(DEV);
    expect(config).toMatchObject({
      ACTION_LIMIT_PER_USER: 12,
      ACTION_LIMIT_BURST_PER_USER: 4,
      ACTION_LIMIT_PER_IP: 3000,
      ACTION_LIMIT_WINDOW_SECONDS: 60,
      USER_SIGNUPS_PER_IP: 20,
      USER_SIGNUP_WINDOW_SECONDS: 3600,
      IDEMPOTENCY_RETENTION_SECONDS: 86_400,
    });
    expect(config.JOURNEY_MAX_UPDATES).toBeLessThan(2000);
    expect(() => loadConfig({ ...DEV, JOURNEY_MAX_UPDATES: '2000' })).toThrow('JOURNEY_MAX_UPDATES');
  });
});

describe('a waiting fan who polls when told never loses the place (issue 21)', () => {
  it('defaults: a 300 s position TTL, five times the longest Retry-After (60 s); no-shows after 120 s', () => {
    expect(loadConfig(DEV)).toMatchObject({ QUEUE_POSITION_TTL_SECONDS: 300, QUEUE_MAX_RETRY_AFTER_SECONDS: 60, NO_SHOW_SECONDS: 120 });
  });

  it.each([
    [{ QUEUE_POSITION_TTL_SECONDS: '100' }],
    [{ QUEUE_MAX_RETRY_AFTER_SECONDS: '101' }],
    [{ QUEUE_POSITION_TTL_SECONDS: '30', QUEUE_MAX_RETRY_AFTER_SECONDS: '11' }],
  ])('a position TTL under 3 × the longest Retry-After stops start-up: %j', (settings) => {
    const start = () => loadConfig({ ...DEV, ...settings });
    expect(start).toThrow(ConfigError);
    expect(start).toThrow(/QUEUE_POSITION_TTL_SECONDS.*QUEUE_MAX_RETRY_AFTER_SECONDS/);
  });

  it('3 × exactly is enough', () => {
    expect(loadConfig({ ...DEV, QUEUE_POSITION_TTL_SECONDS: '30', QUEUE_MAX_RETRY_AFTER_SECONDS: '10' }).QUEUE_POSITION_TTL_SECONDS).toBe(30);
  });
});
