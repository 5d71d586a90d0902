import { z } from 'zod';

/**
 * Every setting of API.md, read and validated once. Secure by default: only in explicit development
 * mode (NODE_ENV=development or test; `npm start` and the tests set it) do the secrets fall back to
 * public development values. Otherwise — NODE_ENV=production or unset — a missing AUTH_SECRET or
 * ADMIN_API_KEY is a start-up error: a process started without NODE_ENV must not sign tokens with a
 * key anyone can read in this repository.
 */
const DEV_AUTH_SECRET = 'ovation-dev-only-auth-secret-change-me';
const DEV_ADMIN_API_KEY = 'ovation-dev-admin-key';

const seconds = (fallback: number) => z.coerce.number().int().positive().default(fallback);

const schema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).optional(),
  DATABASE_URL: z.string().url().default('postgres://ovation:ovation@127.0.0.1:5432/ovation'),
  REDIS_URL: z.string().url().default('redis://127.0.0.1:6379/0'),
  /** A Redis Cluster's seed nodes, `host:port,host:port`: when set, Ovation uses it instead of REDIS_URL (lib/redis.ts). */
  REDIS_CLUSTER_NODES: z.preprocess((v) => (v === '' ? undefined : v), z.string().regex(/^\s*[^\s,:]+:\d+\s*(,\s*[^\s,:]+:\d+\s*)*$/, 'host:port,host:port,…').optional()),
  /** The API's Redis commands of one event-loop turn sent as one write (standalone Redis only; lib/redis.ts). */
  REDIS_AUTO_PIPELINING: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true'),
  /** How long a Redis command may take before it fails (the request then answers 503): fail fast by default. */
  REDIS_COMMAND_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(2000),
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
  /** A new concert's purchase limit: seats one fan may have sold or held in it (operators change it per concert). */
  MAX_SEATS_PER_FAN: z.coerce.number().int().positive().max(1000).default(8),
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
  /** The longest Retry-After a waiting (or pre-queued) fan is told to wait before polling again. */
  QUEUE_MAX_RETRY_AFTER_SECONDS: z.coerce.number().int().min(1).default(60),
  /**
   * A waiting fan whose last request is older than this loses the place when the head reaches them
   * (their next poll: 410 QUEUE_POSITION_EXPIRED). At least 3 × QUEUE_MAX_RETRY_AFTER_SECONDS, so a
   * fan who polls when told never loses it.
   */
  QUEUE_POSITION_TTL_SECONDS: seconds(300),
  /** An admitted fan who makes no request within this many seconds of admission loses the window (NO_SHOW). */
  NO_SHOW_SECONDS: seconds(120),
  /**
   * A new concert's admitted fans per seat left to buy (active fans ≤ ceil(seats left × this)).
   * 1: no more fans choosing than seats to choose from, so the last fan admitted still finds a seat
   * if each buys one (Fanfare's "admissions = inventory"); fans who buy several make it err on the
   * side of admitting too few, and each sale frees its buyer's place for the next fan. Raise it for
   * a crowd that often leaves without buying; operators override it per concert.
   */
  QUEUE_ADMIT_PER_SEAT_FACTOR: z.coerce.number().positive().max(100).default(1),
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
  /**
   * Abuse limits on the costly actions (a Temporal update, a PostgreSQL transaction or money): holds,
   * hold cancellations, payments, wallet charges, ticket cancellations, per user and per client
   * address, at most that many per ACTION_LIMIT_WINDOW_SECONDS (evenly: a bucket in Redis, api/rate-limit.ts). A fan who holds a few
   * seats, pays once and maybe gives a ticket back never comes near them; a script looping
   * hold/cancel does. Load tests raise them.
   */
  ACTION_LIMIT_WINDOW_SECONDS: seconds(60),
  // 12 a minute: a fan who holds four seats, changes their mind twice and pays spends 7; a script
  // looping hold/cancel at 30 took a quarter of the box's journey updates with 50 accounts (bench abuse-loop).
  ACTION_LIMIT_PER_USER: z.coerce.number().int().positive().default(12),
  /** How many of ACTION_LIMIT_PER_USER one user may spend at once (then one per window ÷ limit): a fan holds four seats at once. */
  ACTION_LIMIT_BURST_PER_USER: z.coerce.number().int().positive().default(4),
  ACTION_LIMIT_PER_IP: z.coerce.number().int().positive().default(3000),
  /** Accounts one client address may create per USER_SIGNUP_WINDOW_SECONDS (per-user limits are worthless if users are free). */
  USER_SIGNUPS_PER_IP: z.coerce.number().int().positive().default(20),
  USER_SIGNUP_WINDOW_SECONDS: seconds(3600),
  /**
   * A journey's own budget, checked by its update validators so that it refuses (429) long before
   * Temporal's caps (10 updates in flight, 2,000 in total per workflow) would leave it stuck.
   */
  JOURNEY_MAX_HOLD_ATTEMPTS: z.coerce.number().int().positive().default(100),
  JOURNEY_MAX_UPDATES: z.coerce.number().int().positive().max(1500).default(500),
  /** How long an Idempotency-Key's answer is kept; older records are pruned by the worker. */
  IDEMPOTENCY_RETENTION_SECONDS: seconds(24 * 3600),
  /** Reverse proxies in front of the API whose X-Forwarded-For entry is believed; 0: clients connect directly. */
  TRUSTED_PROXY_HOPS: z.coerce.number().int().min(0).default(0),
  /** The worker's workflow threads and its cache of running workflows; unset: 1 thread (the SDK's default) and a cache of 2,000 per GiB of heap (worker/create-worker.ts). */
  WORKER_WORKFLOW_THREADS: z.preprocess((v) => (v === '' ? undefined : v), z.coerce.number().int().min(1).max(16).optional()),
  WORKER_MAX_CACHED_WORKFLOWS: z.preprocess((v) => (v === '' ? undefined : v), z.coerce.number().int().min(2).optional()),
  /**
   * The Web UI's "Stack Trace" tab for running workflows. Off by default: the SDK captures a stack for
   * every promise a workflow creates to answer it, about half of a journey's workflow CPU (patched
   * to a switch in patches/@temporalio+worker*.patch; bench/README.md). Turn it on to debug a stuck workflow.
   */
  WORKFLOW_STACK_TRACES: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true'),
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
  if (!isDevelopmentMode(settings.NODE_ENV)) {
    const missing = (['AUTH_SECRET', 'ADMIN_API_KEY'] as const).filter((k) => !settings[k]);
    if (missing.length > 0) {
      throw new ConfigError(`missing secret(s) ${missing.join(', ')}: set them, or NODE_ENV=development for the public development values`);
    }
  }
  if (settings.QUEUE_POSITION_TTL_SECONDS < 3 * settings.QUEUE_MAX_RETRY_AFTER_SECONDS) {
    throw new ConfigError(
      'invalid settings: QUEUE_POSITION_TTL_SECONDS must be at least 3 × QUEUE_MAX_RETRY_AFTER_SECONDS (a fan who polls when told must never lose the place)',
    );
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

/**
 * Only DATABASE_URL, for the command-line tools that touch nothing but the database (migrate, seed,
 * the invariant check): they sign no token and check no key, so they need no secret.
 */
export function loadDatabaseUrl(env: NodeJS.ProcessEnv = process.env): string {
  const parsed = schema.shape.DATABASE_URL.safeParse(env.DATABASE_URL);
  if (!parsed.success) throw new ConfigError(`invalid settings: DATABASE_URL: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  return parsed.data;
}

/** Only explicit development (or test) mode may run on the public development secrets. */
export function isDevelopmentMode(nodeEnv: string | undefined): boolean {
  return nodeEnv === 'development' || nodeEnv === 'test';
}
