import type { RedisClient } from '../lib/redis';
import type { Result } from 'ioredis';

/**
 * The waiting room's Lua scripts. Each runs atomically on the concert's slot and touches only the
 * keys its caller declares in KEYS (its `-- KEYS:` line names them, in order; a unit test holds every
 * script to it), all of them tagged with the concert, so the scripts run unchanged on a Redis Cluster
 * (one exception, said where it is: CLAIM_SEAT_COUNTED, for a single Redis).
 */
/**
 * Fixed-window rate-limit counters, counted inside the join and status scripts so that a join or a
 * poll costs one Redis round trip, limits included. A limit of 0 means "not counted here" (no
 * address known, or already counted by COUNT_ARRIVAL). Every request counts, refused or not, so a
 * flood stays refused until it stops. Returns, per limit, the milliseconds until its window ends when
 * it is exceeded, else -1.
 */
const RATE_LIMITS = `
local function overLimit(key, limit, windowMs)
  if limit <= 0 then return -1 end
  local n = redis.call('INCR', key)
  if n == 1 then redis.call('PEXPIRE', key, windowMs) end
  if n <= limit then return -1 end
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then
    redis.call('PEXPIRE', key, windowMs)
    ttl = windowMs
  end
  return ttl
end
local function refusedFor(userKey, userLimit, addressKey, addressLimit, windowMs)
  return overLimit(userKey, tonumber(userLimit), tonumber(windowMs)), overLimit(addressKey, tonumber(addressLimit), tonumber(windowMs))
end
`;

/**
 * A finished session (and a waiting one between polls) is kept for a day, then Redis forgets it: the
 * queue's memory is bounded by the fans of the last day (issue 23).
 */
const SESSION_TTL = `
local SESSION_TTL_SECONDS = 86400
`;

const JOIN = `${RATE_LIMITS}${SESSION_TTL}
-- KEYS: session, waiting, active, seq, settings, closed, userCounter, addressCounter, controllerAsleep, owners
-- ARGV: userId, newSecret, nowMs, userLimit, addressLimit, windowMs, preQueueScore, opensAtMs, positionTtlMs
-- (preQueueScore: the fan's place in [0, 1) when the sales have not opened yet, else ''; opensAtMs:
-- the opening, and positionTtlMs: how long a silent waiting fan keeps the place; both recorded in
-- settings for the polls and the admission ticks)
-- returns {'RATE_LIMITED', userWaitMs, addressWaitMs} | {'CLOSED', reason}
--       | {'OK', created, secret, status, position, arrival, activeUntil, waitingCount, admitPerSecond, wake}
-- (wake = 1: the admission controller slept and this join took its mark, so the caller wakes it;
-- status PRE_QUEUE: before the opening, with position 0)
local userWait, addressWait = refusedFor(KEYS[7], ARGV[4], KEYS[8], ARGV[5], ARGV[6])
if userWait >= 0 or addressWait >= 0 then return {'RATE_LIMITED', userWait, addressWait} end
local reason = redis.call('GET', KEYS[6])
if reason then return {'CLOSED', reason} end
local now = tonumber(ARGV[3])
local rate = redis.call('HGET', KEYS[5], 'admitPerSecond') or ''
if ARGV[8] ~= '' then redis.call('HSET', KEYS[5], 'opensAt', ARGV[8]) end
if ARGV[9] ~= '' then redis.call('HSET', KEYS[5], 'positionTtlMs', ARGV[9]) end
local opensAt = tonumber(redis.call('HGET', KEYS[5], 'opensAt') or '0')
local s = redis.call('HMGET', KEYS[1], 'secret', 'status', 'activeUntil', 'arrival')
if s[2] == 'WAITING' then
  local rank = redis.call('ZRANK', KEYS[2], ARGV[1])
  if rank then
    redis.call('HSET', KEYS[1], 'seenAt', ARGV[3])
    redis.call('EXPIRE', KEYS[1], SESSION_TTL_SECONDS)
    if now < opensAt then return {'OK', 0, s[1], 'PRE_QUEUE', 0, s[4], '0', redis.call('ZCARD', KEYS[2]), rate, redis.call('DEL', KEYS[9])} end
    return {'OK', 0, s[1], 'WAITING', rank + 1, s[4], '0', redis.call('ZCARD', KEYS[2]), rate, redis.call('DEL', KEYS[9])}
  end
elseif s[2] == 'ACTIVE' and tonumber(s[3]) > now then
  redis.call('HSET', KEYS[1], 'seenAt', ARGV[3])
  return {'OK', 0, s[1], 'ACTIVE', 0, s[4], s[3], redis.call('ZCARD', KEYS[2]), rate, 0}
end
-- A new arrival: a fresh session, at the back of the queue or (before the opening) at its fair place.
if s[1] then redis.call('HDEL', KEYS[10], s[1]) end
local arrival = redis.call('INCR', KEYS[4])
local score = arrival
if ARGV[7] ~= '' then score = ARGV[7] end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'secret', ARGV[2], 'arrival', arrival, 'status', 'WAITING', 'joinedAt', ARGV[3], 'seenAt', ARGV[3])
redis.call('EXPIRE', KEYS[1], SESSION_TTL_SECONDS)
redis.call('HSET', KEYS[10], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[2], score, ARGV[1])
local waitingCount = redis.call('ZCARD', KEYS[2])
if now < opensAt then return {'OK', 1, ARGV[2], 'PRE_QUEUE', 0, tostring(arrival), '0', waitingCount, rate, redis.call('DEL', KEYS[9])} end
return {'OK', 1, ARGV[2], 'WAITING', redis.call('ZRANK', KEYS[2], ARGV[1]) + 1, tostring(arrival), '0', waitingCount, rate, redis.call('DEL', KEYS[9])}
`;

const COUNT_ARRIVAL = `${RATE_LIMITS}
-- KEYS: userCounter, addressCounter · ARGV: userLimit, addressLimit, windowMs · returns {userWaitMs, addressWaitMs}
local userWait, addressWait = refusedFor(KEYS[1], ARGV[1], KEYS[2], ARGV[2], ARGV[3])
return {userWait, addressWait}
`;

const STATUS = `${RATE_LIMITS}${SESSION_TTL}
-- KEYS: session, waiting, settings, closed, userCounter, addressCounter, owners
-- ARGV: userLimit, addressLimit, windowMs, userId, secret, nowMs
-- returns {'RATE_LIMITED', userWaitMs, addressWaitMs} | false (unknown token) | {'FORBIDDEN'} (someone else's)
--       | {'OK', status, arrival, activeUntil, position, waitingCount, admitPerSecond, opensAt}
-- Records the fan's request (seenAt): a waiting fan who stops polling loses the place (ADMIT), an
-- admitted fan who never comes is a no-show. A waiting fan of a closed queue reads the reason as its
-- status and leaves the waiting set.
local userWait, addressWait = refusedFor(KEYS[5], ARGV[1], KEYS[6], ARGV[2], ARGV[3])
if userWait >= 0 or addressWait >= 0 then return {'RATE_LIMITED', userWait, addressWait} end
local s = redis.call('HMGET', KEYS[1], 'secret', 'status', 'arrival', 'activeUntil')
if s[1] ~= ARGV[5] then
  local owner = redis.call('HGET', KEYS[7], ARGV[5])
  if owner and owner ~= ARGV[4] then return {'FORBIDDEN'} end
  return false
end
redis.call('HSET', KEYS[1], 'seenAt', ARGV[6])
local position = 0
local status = s[2]
local settings = redis.call('HMGET', KEYS[3], 'opensAt', 'admitPerSecond')
local opensAt = settings[1] or '0'
if status == 'WAITING' then
  redis.call('EXPIRE', KEYS[1], SESSION_TTL_SECONDS)
  local reason = redis.call('GET', KEYS[4])
  if reason then
    redis.call('ZREM', KEYS[2], ARGV[4])
    redis.call('HSET', KEYS[1], 'status', reason)
    status = reason
  elseif tonumber(ARGV[6]) < tonumber(opensAt) then
    status = 'PRE_QUEUE'
  else
    local rank = redis.call('ZRANK', KEYS[2], ARGV[4])
    if rank then position = rank + 1 end
  end
end
return {'OK', status, s[3], s[4] or '0', position, redis.call('ZCARD', KEYS[2]), settings[2] or '', opensAt}
`;

const LEAVE_WAITING = `${SESSION_TTL}
-- KEYS: session, waiting · ARGV: userId, secret · a waiting fan leaves; the fans behind move up one place
local s = redis.call('HMGET', KEYS[1], 'secret', 'status')
if s[1] ~= ARGV[2] then return false end
if s[2] ~= 'WAITING' then return s[2] end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[1], 'status', 'LEFT')
redis.call('EXPIRE', KEYS[1], SESSION_TTL_SECONDS)
return 'LEFT'
`;

const ADMIT = `${SESSION_TTL}
-- KEYS: waiting, active, batch, settings, …  (then session(candidate 1), …, session(candidate k))
-- ARGV: nowMs, maxBatch, maxActive, activeTtlMs, batchTtlSeconds, admitPerSecond, paused,
--       candidate 1 userId, …, candidate k userId
-- The candidates are the head of the waiting set as the caller read it just before (ZRANGE): their
-- session keys are declared here. A candidate who left meanwhile is passed over; a candidate whose
-- last request is older than the API's position TTL (settings positionTtlMs) has left without saying so and loses the place (status
-- QUEUE_POSITION_EXPIRED): O(1) per fan, and only when the head reaches them. Nobody is admitted
-- before the sales open (settings opensAt).
redis.call('HSET', KEYS[4], 'admitPerSecond', ARGV[6], 'maxActive', ARGV[3], 'paused', ARGV[7])
local done = redis.call('GET', KEYS[3])
if done then return done end
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local free = tonumber(ARGV[3]) - redis.call('ZCARD', KEYS[2])
local n = math.min(tonumber(ARGV[2]), free)
if now < tonumber(redis.call('HGET', KEYS[4], 'opensAt') or '0') then n = 0 end
local activeUntil = now + tonumber(ARGV[4])
local positionTtl = tonumber(redis.call('HGET', KEYS[4], 'positionTtlMs') or '300000')
local admitted, dropped = {}, 0
local candidates = #KEYS - 4
local i = 1
while #admitted < n and i <= candidates do
  local userId = ARGV[7 + i]
  local sessionKey = KEYS[4 + i]
  if redis.call('ZSCORE', KEYS[1], userId) then
    local s = redis.call('HMGET', sessionKey, 'secret', 'status', 'arrival', 'seenAt')
    redis.call('ZREM', KEYS[1], userId)
    if s[2] ~= 'WAITING' then
      -- A member without a waiting session (it expired): nobody to admit.
    elseif now - tonumber(s[4] or '0') > positionTtl then
      redis.call('HSET', sessionKey, 'status', 'QUEUE_POSITION_EXPIRED')
      redis.call('EXPIRE', sessionKey, SESSION_TTL_SECONDS)
      dropped = dropped + 1
    else
      redis.call('HSET', sessionKey, 'status', 'ACTIVE', 'activeUntil', activeUntil, 'admittedAt', ARGV[1])
      redis.call('PEXPIREAT', sessionKey, activeUntil + SESSION_TTL_SECONDS * 1000)
      redis.call('ZADD', KEYS[2], activeUntil, userId)
      admitted[#admitted + 1] = userId .. ' ' .. s[1] .. ' ' .. s[3]
    end
  end
  i = i + 1
end
local result = cjson.encode({ admitted = admitted, dropped = dropped, activeUntil = activeUntil,
  waiting = redis.call('ZCARD', KEYS[1]), active = redis.call('ZCARD', KEYS[2]) })
redis.call('SET', KEYS[3], result, 'EX', tonumber(ARGV[5]))
return result
`;

const END_SESSION = `${SESSION_TTL}
-- KEYS: session, active · ARGV: userId, secret, finalStatus, arrival · ends an ACTIVE session once
-- A journey holds no credential (issue 23): it passes secret '' and names its session by the fan's
-- arrival number instead (older journeys pass their token's secret and arrival '').
-- returns the session's status after the call, or false when the named session is not the fan's
-- current one (it ended before and a newer one began).
local s = redis.call('HMGET', KEYS[1], 'secret', 'status', 'arrival')
if not s[1] then return false end
if ARGV[2] ~= '' and s[1] ~= ARGV[2] then return false end
if ARGV[4] ~= '' and s[3] ~= ARGV[4] then return false end
if s[2] == 'ACTIVE' then
  redis.call('HSET', KEYS[1], 'status', ARGV[3])
  s[2] = ARGV[3]
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[1], SESSION_TTL_SECONDS)
return s[2]
`;

const END_IF_NO_SHOW = `${SESSION_TTL}
-- KEYS: session, active · ARGV: userId, arrival
-- NO_SHOW_SECONDS after admission: a fan who has made no request since (seenAt ≤ admittedAt: every
-- poll, token check and seat claim records one) loses the window, and the active slot goes to the
-- next fan at once. Returns 'NO_SHOW'; the status otherwise ('ACTIVE': the fan came); false when
-- this arrival is not the fan's current session.
local s = redis.call('HMGET', KEYS[1], 'secret', 'status', 'arrival', 'seenAt', 'admittedAt')
if not s[1] or s[3] ~= ARGV[2] then return false end
if s[2] ~= 'ACTIVE' then return s[2] end
if tonumber(s[4] or '0') > tonumber(s[5] or '0') then return 'ACTIVE' end
redis.call('HSET', KEYS[1], 'status', 'NO_SHOW')
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[1], SESSION_TTL_SECONDS)
return 'NO_SHOW'
`;

/**
 * The abuse limit of a costly action (api/rate-limit.ts `ActionLimit`) as buckets of the generic cell
 * rate algorithm: each key holds the "theoretical arrival time" in ms. Each allowed action moves it one
 * interval (window ÷ limit) on; an action is refused while it would run more than `burst` intervals
 * ahead of now. So at most `burst` actions at once, then one per interval: the limit's rate without a
 * fixed window's burst of the whole limit at every window start (50 looping accounts spent their 12
 * in the first seconds together: bench abuse-loop). A refused action changes nothing; Redis' clock,
 * so every API process agrees.
 *
 * `takeFromBuckets(firstKey, count, firstArg)` takes `count` buckets, KEYS[firstKey] on, each exactly
 * as on its own (one may be taken while another refuses); ARGV from `firstArg`: windowMs, then limit
 * and burst per bucket. Returns per bucket -1 (taken) or the ms until its next action is allowed.
 */
export const ACTION_BUCKETS = `
local function takeFromBuckets(firstKey, count, firstArg)
  local time = redis.call('TIME')
  local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  local windowMs = tonumber(ARGV[firstArg])
  local waits = {}
  for i = 1, count do
    local key = KEYS[firstKey + i - 1]
    local interval = windowMs / tonumber(ARGV[firstArg + 2 * i - 1])
    local burst = tonumber(ARGV[firstArg + 2 * i])
    local tat = math.max(tonumber(redis.call('GET', key) or now) or now, now)
    local wait = tat + interval - burst * interval - now
    if wait > 0 then
      waits[i] = math.ceil(wait)
    else
      tat = math.ceil(tat + interval)
      redis.call('SET', key, string.format('%d', tat), 'PX', math.max(1, tat - now))
      waits[i] = -1
    end
  end
  return waits
end
`;

/** Two buckets of an action's limit (ACTION_BUCKETS) for a script to take before its own work. */
export interface TwoBuckets {
  keys: [string, string];
  windowMs: number;
  limits: [number, number];
  bursts: [number, number];
}

/** The queue token's check, then the gate's claim: ARGV 1-6 as CLAIM_SEAT declares them. */
const CLAIM_SEAT_BODY = `
local s = redis.call('HMGET', KEYS[1], 'secret', 'status', 'activeUntil', 'arrival')
if s[1] ~= ARGV[2] then
  local owner = redis.call('HGET', KEYS[3], ARGV[2])
  if owner and owner ~= ARGV[1] then return {'FORBIDDEN'} end
  return {'INVALID'}
end
local now = tonumber(ARGV[4])
redis.call('HSET', KEYS[1], 'seenAt', ARGV[4])
local activeUntil = tonumber(s[3] or '0') or 0
if s[2] ~= 'ACTIVE' then return {'NOT_ACTIVE', s[2]} end
if activeUntil <= now then return {'NOT_ACTIVE', 'EXPIRED'} end
-- The gate closes until the hold's latest possible deadline + grace.
local deadline = math.min(now + tonumber(ARGV[5]), activeUntil)
local ttl = math.max(1, deadline - now + tonumber(ARGV[6]))
if redis.call('SET', KEYS[2], ARGV[3], 'PX', ttl, 'NX') then return {'CLAIMED', s[3], s[4]} end
return {'TAKEN', s[3], s[4], redis.call('GET', KEYS[2]) or ''}
`;

const CLAIM_SEAT = `
-- KEYS: session, gate, owners · ARGV: userId, secret, reservationId, nowMs, holdTtlMs, graceMs
-- The contested seat's path in one round trip: the queue token's check (recording the fan's request,
-- seenAt), then the gate's claim.
-- returns {'INVALID'} | {'FORBIDDEN'} | {'NOT_ACTIVE', status} | {'TAKEN', activeUntil, arrival, holder}
--       | {'CLAIMED', activeUntil, arrival} (holder: the reservation id the gate is closed for)
${CLAIM_SEAT_BODY}`;

const CLAIM_SEAT_COUNTED = `${ACTION_BUCKETS}
-- KEYS: session, gate, owners, user bucket, address bucket · ARGV: userId, secret, reservationId, nowMs, holdTtlMs, graceMs, windowMs, user limit, user burst, address limit, address burst
-- CLAIM_SEAT after the hold's action limit (the user's and the address's buckets), so that a contested
-- seat's loser costs one round trip, its abuse limit included. The buckets are keys of their own, in
-- slots of their own: for a single Redis only (on a Redis Cluster the limit is taken by its own
-- command first, and CLAIM_SEAT follows).
-- returns {'LIMITED', user wait, address wait} (either ≥ 0; nothing else was touched), or as CLAIM_SEAT
local waits = takeFromBuckets(4, 2, 7)
if waits[1] >= 0 or waits[2] >= 0 then return {'LIMITED', waits[1], waits[2]} end
${CLAIM_SEAT_BODY}`;

const GATE_RELEASE = `
-- KEYS: gate · ARGV: reservationId · compare-and-delete: only the claimant's own gate is opened
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

const GATE_SEAL = `
-- KEYS: gate · ARGV: reservationId · a sold seat's gate stays closed for good
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PERSIST', KEYS[1]) end
redis.call('SET', KEYS[1], ARGV[1])
return 1
`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    ovJoin(
      session: string, waiting: string, active: string, seq: string, settings: string, closed: string, userCounter: string, addressCounter: string,
      controllerAsleep: string, owners: string,
      userId: string, secret: string, nowMs: number, userLimit: number, addressLimit: number, windowMs: number, preQueueScore: string, opensAtMs: string, positionTtlMs: string,
    ): Result<['RATE_LIMITED', number, number] | ['CLOSED', string] | ['OK', number, string, string, number, string, string, number, string, number], Context>;
    ovCountArrival(userCounter: string, addressCounter: string, userLimit: number, addressLimit: number, windowMs: number): Result<[number, number], Context>;
    ovStatus(
      session: string, waiting: string, settings: string, closed: string, userCounter: string, addressCounter: string, owners: string,
      userLimit: number, addressLimit: number, windowMs: number, userId: string, secret: string, nowMs: number,
    ): Result<['RATE_LIMITED', number, number] | ['FORBIDDEN'] | ['OK', string, string, string, number, number, string, string] | null, Context>;
    ovLeaveWaiting(session: string, waiting: string, userId: string, secret: string): Result<string | null, Context>;
    /** Variadic: the number of keys first (4 + one session per candidate), then the keys, then ARGV. */
    ovAdmit(numberOfKeys: number, ...keysAndArgs: Array<string | number>): Result<string, Context>;
    ovEndSession(session: string, active: string, userId: string, secret: string, finalStatus: string, arrival: string): Result<string | null, Context>;
    ovEndIfNoShow(session: string, active: string, userId: string, arrival: string): Result<string | null, Context>;
    ovClaimSeat(session: string, gate: string, owners: string, userId: string, secret: string, reservationId: string, nowMs: number, holdTtlMs: number, graceMs: number): Result<[string, string?, string?, string?], Context>;
    ovClaimSeatCounted(
      session: string, gate: string, owners: string, userBucket: string, addressBucket: string,
      userId: string, secret: string, reservationId: string, nowMs: number, holdTtlMs: number, graceMs: number,
      windowMs: number, userLimit: number, userBurst: number, addressLimit: number, addressBurst: number,
    ): Result<[string, (string | number)?, (string | number)?, string?], Context>;
    ovGateRelease(gate: string, reservationId: string): Result<number, Context>;
    ovGateSeal(gate: string, reservationId: string): Result<number, Context>;
  }
}

/** Every script by its command name, with its key count (undefined: variadic, the count passed first). */
export const QUEUE_SCRIPTS = {
  ovJoin: { numberOfKeys: 10, lua: JOIN },
  ovCountArrival: { numberOfKeys: 2, lua: COUNT_ARRIVAL },
  ovStatus: { numberOfKeys: 7, lua: STATUS },
  ovLeaveWaiting: { numberOfKeys: 2, lua: LEAVE_WAITING },
  ovAdmit: { numberOfKeys: undefined, lua: ADMIT },
  ovEndSession: { numberOfKeys: 2, lua: END_SESSION },
  ovEndIfNoShow: { numberOfKeys: 2, lua: END_IF_NO_SHOW },
  ovClaimSeat: { numberOfKeys: 3, lua: CLAIM_SEAT },
  ovClaimSeatCounted: { numberOfKeys: 5, lua: CLAIM_SEAT_COUNTED },
  ovGateRelease: { numberOfKeys: 1, lua: GATE_RELEASE },
  ovGateSeal: { numberOfKeys: 1, lua: GATE_SEAL },
} as const;

/** Registers the scripts on a client (EVALSHA with automatic fallback to EVAL, by ioredis). */
export function defineQueueScripts<T extends RedisClient>(redis: T): T {
  for (const [name, script] of Object.entries(QUEUE_SCRIPTS)) {
    redis.defineCommand(name, script.numberOfKeys === undefined ? { lua: script.lua } : { numberOfKeys: script.numberOfKeys, lua: script.lua });
  }
  return redis;
}
