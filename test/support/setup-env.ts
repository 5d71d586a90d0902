// Settings every test process shares: the test database and Redis database, never the dev ones.
process.env.NODE_ENV = 'test';
process.env.DATABASE_URL ??= 'postgres://ovation:ovation@127.0.0.1:5432/ovation_test';
process.env.REDIS_URL ??= 'redis://127.0.0.1:6379/1';
process.env.LOG_LEVEL ??= 'silent';
// Suites poll far faster than Retry-After on purpose (to see an admission at once), many users from one
// address: the abuse limits stay out of their way. test/integration/rate-limit.test.ts sets its own.
process.env.RATE_LIMIT_PER_USER ??= '1000000';
process.env.RATE_LIMIT_PER_IP ??= '1000000';
// The same for the costly actions' limits (holds, cancellations, payments, charges, sign-ups):
// test/e2e/abuse-limits.test.ts runs its own API processes with low ones.
process.env.ACTION_LIMIT_PER_USER ??= '1000000';
process.env.ACTION_LIMIT_BURST_PER_USER ??= '1000000';
process.env.ACTION_LIMIT_PER_IP ??= '1000000';
process.env.USER_SIGNUPS_PER_IP ??= '1000000';
