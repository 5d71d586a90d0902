// Settings every test process shares: the test database and Redis database, never the dev ones.
process.env.NODE_ENV = 'test';
process.env.DATABASE_URL ??= 'postgres://ovation:ovation@127.0.0.1:5432/ovation_test';
process.env.REDIS_URL ??= 'redis://127.0.0.1:6379/1';
process.env.LOG_LEVEL ??= 'silent';
