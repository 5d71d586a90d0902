import { z } from 'zod';

/**
 * Every setting of API.md, read and validated once. Local development runs with no environment at
 * all; in production (NODE_ENV=production) a missing secret is a start-up error, never a default.
 */
const DEV_AUTH_SECRET = 'ovation-dev-only-auth-secret-change-me';
const DEV_ADMIN_API_KEY = 'ovation-dev-admin-key';

const seconds = (fallback: number) => z.coerce.number().int().positive().default(fallback);

const schema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  DATABASE_URL: z.string().url().default('postgres://ovation:ovation@127.0.0.1:5432/ovation'),
  REDIS_URL: z.string().url().default('redis://127.0.0.1:6379/0'),
  TEMPORAL_ADDRESS: z.string().min(1).default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('ovation'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  /** API processes sharing PORT (api/server.ts); unset: one per core. 1: a single process, no cluster. */
  API_PROCESSES: z.preprocess((v) => (v === '' ? undefined : v), z.coerce.number().int().min(1).max(256).optional()),
  AUTH_SECRET: z.string().min(16).optional(),
  ADMIN_API_KEY: z.string().min(8).optional(),
  ACCESS_TOKEN_TTL_SECONDS: seconds(24 * 3600),
  HOLD_TTL_SECONDS: seconds(300),
  HOLD_GRACE_SECONDS: z.coerce.number().int().min(0).default(3),
  MAX_HOLDS_PER_FAN: z.coerce.number().int().positive().default(4),
  ACTIVE_TOKEN_TTL_SECONDS: seconds(600),
  QUEUE_ADMIT_PER_SECOND: z.coerce.number().positive().default(50),
  QUEUE_MAX_ACTIVE: z.coerce.number().int().positive().default(1000),
  /** Total status polls per second a concert's whole queue should make (Retry-After grows to fit). */
  QUEUE_POLL_BUDGET_PER_SECOND: z.coerce.number().positive().default(5000),
  /** The adaptive valve (workflows/admission-valve.ts): on or off for new queues, its bounds and targets. */
  QUEUE_ADAPTIVE: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true'),
  QUEUE_MIN_ADMIT_PER_SECOND: z.coerce.number().positive().default(5),
  QUEUE_MAX_ADMIT_PER_SECOND: z.coerce.number().positive().default(500),
  QUEUE_HOLD_P95_TARGET_MS: z.coerce.number().int().positive().default(500),
  QUEUE_PAY_P95_TARGET_MS: z.coerce.number().int().positive().default(1500),
  /** How often the valve looks at the latency and may move the rate. */
  QUEUE_ADJUST_EVERY_MS: z.coerce.number().int().min(100).default(5000),
  /** How often the admission controller ticks; tests shorten it. */
  ADMISSION_TICK_MS: z.coerce.number().int().min(50).default(1000),
  /**
   * Abuse limits on joining and on status polling, each counted per window in Redis (so they hold
   * across API instances): per user, and per client address. An honest client polls at most once a
   * second (Retry-After ≥ 1 s); the per-address limit leaves room for many fans behind one NAT.
   */
  RATE_LIMIT_WINDOW_SECONDS: seconds(1),
  RATE_LIMIT_PER_USER: z.coerce.number().int().positive().default(20),
  RATE_LIMIT_PER_IP: z.coerce.number().int().positive().default(1000),
  /** Reverse proxies in front of the API whose X-Forwarded-For entry is believed; 0: clients connect directly. */
  TRUSTED_PROXY_HOPS: z.coerce.number().int().min(0).default(0),
  /** Where OpenTelemetry spans go (lib/tracing.ts): nowhere by default. */
  OTEL_TRACES_EXPORTER: z.enum(['none', 'otlp', 'console']).default('none'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type Config = Omit<z.infer<typeof schema>, 'AUTH_SECRET' | 'ADMIN_API_KEY'> & {
  AUTH_SECRET: string;
  ADMIN_API_KEY: string;
};

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid settings: ${problems.join('; ')}`);
  }
  const settings = parsed.data;
  if (settings.NODE_ENV === 'production') {
    const missing = (['AUTH_SECRET', 'ADMIN_API_KEY'] as const).filter((k) => !settings[k]);
    if (missing.length > 0) throw new ConfigError(`missing secret(s) in production: ${missing.join(', ')}`);
  }
  if (settings.QUEUE_MIN_ADMIT_PER_SECOND > settings.QUEUE_MAX_ADMIT_PER_SECOND) {
    throw new ConfigError('invalid settings: QUEUE_MIN_ADMIT_PER_SECOND must not exceed QUEUE_MAX_ADMIT_PER_SECOND');
  }
  return {
    ...settings,
    AUTH_SECRET: settings.AUTH_SECRET ?? DEV_AUTH_SECRET,
    ADMIN_API_KEY: settings.ADMIN_API_KEY ?? DEV_ADMIN_API_KEY,
  };
}
