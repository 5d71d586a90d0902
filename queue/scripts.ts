import type Redis from 'ioredis';
import type { Result } from 'ioredis';

/**
 * The waiting room's Lua scripts. Each runs atomically on the concert's slot; keys derived inside a
 * script (a token's hash from the fan's pointer) carry the same hash tag, so they live in that slot.
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

const JOIN = `${RATE_LIMITS}
-- KEYS: fan, waiting, active, seq, settings, closed, userCounter, addressCounter, controllerAsleep
-- ARGV: userId, newSecret, nowMs, prefix, userLimit, addressLimit, windowMs
-- returns {'RATE_LIMITED', userWaitMs, addressWaitMs} | {'CLOSED', reason}
--       | {'OK', created, secret, status, position, arrival, activeUntil, waitingCount, admitPerSecond, wake}
-- (wake = 1: the admission controller slept and this join took its mark, so the caller wakes it)
local userWait, addressWait = refusedFor(KEYS[7], ARGV[5], KEYS[8], ARGV[6], ARGV[7])
if userWait >= 0 or addressWait >= 0 then return {'RATE_LIMITED', userWait, addressWait} end
local reason = redis.call('GET', KEYS[6])
if reason then return {'CLOSED', reason} end
local rate = redis.call('HGET', KEYS[5], 'admitPerSecond') or ''
local current = redis.call('GET', KEYS[1])
if current then
  local tokenKey = ARGV[4] .. 'token:' .. current
  local t = redis.call('HMGET', tokenKey, 'status', 'activeUntil', 'arrival')
  if t[1] == 'WAITING' then
    local rank = redis.call('ZRANK', KEYS[2], ARGV[1])
    if rank then return {'OK', 0, current, 'WAITING', rank + 1, t[3], '0', redis.call('ZCARD', KEYS[2]), rate, redis.call('DEL', KEYS[9])} end
  elseif t[1] == 'ACTIVE' and tonumber(t[2]) > tonumber(ARGV[3]) then
    return {'OK', 0, current, 'ACTIVE', 0, t[3], t[2], redis.call('ZCARD', KEYS[2]), rate, 0}
  end
end
-- A new arrival: a fresh token at the back of the queue.
local arrival = redis.call('INCR', KEYS[4])
redis.call('HSET', ARGV[4] .. 'token:' .. ARGV[2], 'userId', ARGV[1], 'arrival', arrival, 'status', 'WAITING', 'joinedAt', ARGV[3])
redis.call('SET', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], arrival, ARGV[1])
return {'OK', 1, ARGV[2], 'WAITING', redis.call('ZRANK', KEYS[2], ARGV[1]) + 1, tostring(arrival), '0', redis.call('ZCARD', KEYS[2]), rate, redis.call('DEL', KEYS[9])}
`;

const COUNT_ARRIVAL = `${RATE_LIMITS}
-- KEYS: userCounter, addressCounter · ARGV: userLimit, addressLimit, windowMs · returns {userWaitMs, addressWaitMs}
local userWait, addressWait = refusedFor(KEYS[1], ARGV[1], KEYS[2], ARGV[2], ARGV[3])
return {userWait, addressWait}
`;

const STATUS = `${RATE_LIMITS}
-- KEYS: token, waiting, settings, closed, userCounter, addressCounter · ARGV: userLimit, addressLimit, windowMs
-- returns {'RATE_LIMITED', userWaitMs, addressWaitMs} | false (unknown token)
--       | {'OK', userId, status, arrival, activeUntil, position, waitingCount, admitPerSecond}
-- A waiting fan of a closed queue reads the reason as its status and leaves the waiting set.
local userWait, addressWait = refusedFor(KEYS[5], ARGV[1], KEYS[6], ARGV[2], ARGV[3])
if userWait >= 0 or addressWait >= 0 then return {'RATE_LIMITED', userWait, addressWait} end
local t = redis.call('HMGET', KEYS[1], 'userId', 'status', 'arrival', 'activeUntil')
if not t[1] then return false end
local position = 0
if t[2] == 'WAITING' then
  local reason = redis.call('GET', KEYS[4])
  if reason then
    redis.call('ZREM', KEYS[2], t[1])
    redis.call('HSET', KEYS[1], 'status', reason)
    redis.call('EXPIRE', KEYS[1], 86400)
    -- The fan's pointer (same prefix and slot) expires with the token it names.
    local fanKey = (string.gsub(KEYS[1], 'token:.*$', 'fan:' .. t[1]))
    if redis.call('GET', fanKey) == string.match(KEYS[1], 'token:(.*)$') then redis.call('EXPIRE', fanKey, 86400) end
    t[2] = reason
  else
    local rank = redis.call('ZRANK', KEYS[2], t[1])
    if rank then position = rank + 1 end
  end
end
return {'OK', t[1], t[2], t[3], t[4] or '0', position, redis.call('ZCARD', KEYS[2]), redis.call('HGET', KEYS[3], 'admitPerSecond') or ''}
`;

const LEAVE_WAITING = `
-- KEYS: token, waiting · ARGV: userId · a waiting fan leaves; the fans behind move up one place
local t = redis.call('HMGET', KEYS[1], 'userId', 'status')
if t[1] ~= ARGV[1] then return false end
if t[2] ~= 'WAITING' then return t[2] end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[1], 'status', 'LEFT')
redis.call('EXPIRE', KEYS[1], 86400)
-- The fan's pointer (same prefix and slot as the token) expires with the token it names.
local fanKey = (string.gsub(KEYS[1], 'token:.*$', 'fan:' .. ARGV[1]))
if redis.call('GET', fanKey) == string.match(KEYS[1], 'token:(.*)$') then redis.call('EXPIRE', fanKey, 86400) end
return 'LEFT'
`;

const ADMIT = `
-- KEYS: waiting, active, batch, settings
-- ARGV: nowMs, maxBatch, maxActive, activeTtlMs, prefix, batchTtlSeconds, admitPerSecond, paused
redis.call('HSET', KEYS[4], 'admitPerSecond', ARGV[7], 'maxActive', ARGV[3], 'paused', ARGV[8])
local done = redis.call('GET', KEYS[3])
if done then return done end
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local free = tonumber(ARGV[3]) - redis.call('ZCARD', KEYS[2])
local n = math.min(tonumber(ARGV[2]), free)
local activeUntil = now + tonumber(ARGV[4])
local admitted = {}
if n > 0 then
  local popped = redis.call('ZPOPMIN', KEYS[1], n)
  for i = 1, #popped, 2 do
    local userId = popped[i]
    local secret = redis.call('GET', ARGV[5] .. 'fan:' .. userId)
    if secret then
      local tokenKey = ARGV[5] .. 'token:' .. secret
      redis.call('HSET', tokenKey, 'status', 'ACTIVE', 'activeUntil', activeUntil)
      redis.call('PEXPIREAT', tokenKey, activeUntil + 86400000)
      redis.call('PEXPIREAT', ARGV[5] .. 'fan:' .. userId, activeUntil + 86400000)
      redis.call('ZADD', KEYS[2], activeUntil, userId)
      admitted[#admitted + 1] = userId .. ' ' .. secret .. ' ' .. popped[i + 1]
    end
  end
end
local result = cjson.encode({ admitted = admitted, activeUntil = activeUntil,
  waiting = redis.call('ZCARD', KEYS[1]), active = redis.call('ZCARD', KEYS[2]) })
redis.call('SET', KEYS[3], result, 'EX', tonumber(ARGV[6]))
return result
`;

const END_SESSION = `
-- KEYS: token, active, fan · ARGV: userId, secret, finalStatus[, arrival] · ends an ACTIVE session once
-- A journey holds no credential (issue 23): it passes secret '' and its arrival number instead (and
-- the fan's pointer again as KEYS[1]); the session is then the one the fan's pointer names, if its
-- arrival is the journey's (the token's key, same prefix and slot as the pointer, is derived here).
local tokenKey, secret = KEYS[1], ARGV[2]
if secret == '' then
  secret = redis.call('GET', KEYS[3])
  if not secret then return false end
  tokenKey = string.sub(KEYS[3], 1, #KEYS[3] - #('fan:' .. ARGV[1])) .. 'token:' .. secret
end
local t = redis.call('HMGET', tokenKey, 'userId', 'status', 'arrival')
if t[1] ~= ARGV[1] then return false end
if ARGV[4] and ARGV[4] ~= '' and t[3] ~= ARGV[4] then return false end
if t[2] == 'ACTIVE' then
  redis.call('HSET', tokenKey, 'status', ARGV[3])
  redis.call('EXPIRE', tokenKey, 86400)
end
if redis.call('GET', KEYS[3]) == secret then
  redis.call('ZREM', KEYS[2], ARGV[1])
  -- The pointer of a fan who finished expires with the token it names.
  redis.call('EXPIRE', KEYS[3], 86400)
end
return redis.call('HGET', tokenKey, 'status')
`;

const CLAIM_SEAT = `
-- KEYS: token, gate · ARGV: userId, reservationId, nowMs, holdTtlMs, graceMs
-- The contested seat's path in one round trip: the queue token's check, then the gate's claim.
-- returns {'INVALID'} | {'FORBIDDEN'} | {'NOT_ACTIVE', status} | {'TAKEN', activeUntil, arrival}
--       | {'CLAIMED', activeUntil, arrival}
local t = redis.call('HMGET', KEYS[1], 'userId', 'status', 'activeUntil', 'arrival')
if not t[1] then return {'INVALID'} end
if t[1] ~= ARGV[1] then return {'FORBIDDEN'} end
local now = tonumber(ARGV[3])
local activeUntil = tonumber(t[3] or '0') or 0
if t[2] ~= 'ACTIVE' then return {'NOT_ACTIVE', t[2]} end
if activeUntil <= now then return {'NOT_ACTIVE', 'EXPIRED'} end
-- The gate closes until the hold's latest possible deadline + grace.
local deadline = math.min(now + tonumber(ARGV[4]), activeUntil)
local ttl = math.max(1, deadline - now + tonumber(ARGV[5]))
if redis.call('SET', KEYS[2], ARGV[2], 'PX', ttl, 'NX') then return {'CLAIMED', t[3], t[4]} end
return {'TAKEN', t[3], t[4]}
`;

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
      fan: string, waiting: string, active: string, seq: string, settings: string, closed: string, userCounter: string, addressCounter: string,
      controllerAsleep: string,
      userId: string, secret: string, nowMs: number, prefix: string, userLimit: number, addressLimit: number, windowMs: number,
    ): Result<['RATE_LIMITED', number, number] | ['CLOSED', string] | ['OK', number, string, string, number, string, string, number, string, number], Context>;
    ovCountArrival(userCounter: string, addressCounter: string, userLimit: number, addressLimit: number, windowMs: number): Result<[number, number], Context>;
    ovStatus(
      token: string, waiting: string, settings: string, closed: string, userCounter: string, addressCounter: string,
      userLimit: number, addressLimit: number, windowMs: number,
    ): Result<['RATE_LIMITED', number, number] | ['OK', string, string, string, string, number, number, string] | null, Context>;
    ovLeaveWaiting(token: string, waiting: string, userId: string): Result<string | null, Context>;
    ovAdmit(waiting: string, active: string, batch: string, settings: string, nowMs: number, maxBatch: number, maxActive: number, activeTtlMs: number, prefix: string, batchTtlSeconds: number, admitPerSecond: number, paused: number): Result<string, Context>;
    ovEndSession(token: string, active: string, fan: string, userId: string, secret: string, finalStatus: string, arrival?: number): Result<string | null, Context>;
    ovClaimSeat(token: string, gate: string, userId: string, reservationId: string, nowMs: number, holdTtlMs: number, graceMs: number): Result<[string, string?, string?], Context>;
    ovGateRelease(gate: string, reservationId: string): Result<number, Context>;
    ovGateSeal(gate: string, reservationId: string): Result<number, Context>;
  }
}

/** Registers the scripts on a client (EVALSHA with automatic fallback to EVAL, by ioredis). */
export function defineQueueScripts(redis: Redis): Redis {
  redis.defineCommand('ovJoin', { numberOfKeys: 9, lua: JOIN });
  redis.defineCommand('ovCountArrival', { numberOfKeys: 2, lua: COUNT_ARRIVAL });
  redis.defineCommand('ovStatus', { numberOfKeys: 6, lua: STATUS });
  redis.defineCommand('ovLeaveWaiting', { numberOfKeys: 2, lua: LEAVE_WAITING });
  redis.defineCommand('ovAdmit', { numberOfKeys: 4, lua: ADMIT });
  redis.defineCommand('ovEndSession', { numberOfKeys: 3, lua: END_SESSION });
  redis.defineCommand('ovClaimSeat', { numberOfKeys: 2, lua: CLAIM_SEAT });
  redis.defineCommand('ovGateRelease', { numberOfKeys: 1, lua: GATE_RELEASE });
  redis.defineCommand('ovGateSeal', { numberOfKeys: 1, lua: GATE_SEAL });
  return redis;
}
