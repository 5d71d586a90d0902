import type Redis from 'ioredis';
import type { Result } from 'ioredis';

/**
 * The waiting room's Lua scripts. Each runs atomically on the concert's slot; keys derived inside a
 * script (a token's hash from the fan's pointer) carry the same hash tag, so they live in that slot.
 */
const JOIN = `
-- KEYS: fan, waiting, active, seq, settings, controllerAsleep · ARGV: userId, newSecret, nowMs, prefix
-- returns created, secret, status, position, arrival, activeUntil, waitingCount, admitPerSecond, wake
-- (wake = 1: the controller slept and this join took its mark, so the caller wakes it)
local rate = redis.call('HGET', KEYS[5], 'admitPerSecond') or ''
local current = redis.call('GET', KEYS[1])
if current then
  local tokenKey = ARGV[4] .. 'token:' .. current
  local t = redis.call('HMGET', tokenKey, 'status', 'activeUntil', 'arrival')
  if t[1] == 'WAITING' then
    local rank = redis.call('ZRANK', KEYS[2], ARGV[1])
    if rank then return {0, current, 'WAITING', rank + 1, t[3], '0', redis.call('ZCARD', KEYS[2]), rate, redis.call('DEL', KEYS[6])} end
  elseif t[1] == 'ACTIVE' and tonumber(t[2]) > tonumber(ARGV[3]) then
    return {0, current, 'ACTIVE', 0, t[3], t[2], redis.call('ZCARD', KEYS[2]), rate, 0}
  end
end
local arrival = redis.call('INCR', KEYS[4])
redis.call('HSET', ARGV[4] .. 'token:' .. ARGV[2], 'userId', ARGV[1], 'arrival', arrival, 'status', 'WAITING', 'joinedAt', ARGV[3])
redis.call('SET', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], arrival, ARGV[1])
return {1, ARGV[2], 'WAITING', redis.call('ZRANK', KEYS[2], ARGV[1]) + 1, tostring(arrival), '0', redis.call('ZCARD', KEYS[2]), rate, redis.call('DEL', KEYS[6])}
`;

const STATUS = `
-- KEYS: token, waiting, settings · returns userId, status, arrival, activeUntil, position, waitingCount, admitPerSecond
local t = redis.call('HMGET', KEYS[1], 'userId', 'status', 'arrival', 'activeUntil')
if not t[1] then return false end
local position = 0
if t[2] == 'WAITING' then
  local rank = redis.call('ZRANK', KEYS[2], t[1])
  if rank then position = rank + 1 end
end
return {t[1], t[2], t[3], t[4] or '0', position, redis.call('ZCARD', KEYS[2]), redis.call('HGET', KEYS[3], 'admitPerSecond') or ''}
`;

const LEAVE_WAITING = `
-- KEYS: token, waiting · ARGV: userId · a waiting fan leaves; the fans behind move up one place
local t = redis.call('HMGET', KEYS[1], 'userId', 'status')
if t[1] ~= ARGV[1] then return false end
if t[2] ~= 'WAITING' then return t[2] end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[1], 'status', 'LEFT')
redis.call('EXPIRE', KEYS[1], 86400)
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
-- KEYS: token, active, fan · ARGV: userId, secret, finalStatus · ends an ACTIVE session once
local t = redis.call('HMGET', KEYS[1], 'userId', 'status')
if t[1] ~= ARGV[1] then return false end
if t[2] == 'ACTIVE' then
  redis.call('HSET', KEYS[1], 'status', ARGV[3])
  redis.call('EXPIRE', KEYS[1], 86400)
end
if redis.call('GET', KEYS[3]) == ARGV[2] then redis.call('ZREM', KEYS[2], ARGV[1]) end
return redis.call('HGET', KEYS[1], 'status')
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
    ovJoin(fan: string, waiting: string, active: string, seq: string, settings: string, controllerAsleep: string, userId: string, secret: string, nowMs: number, prefix: string): Result<[number, string, string, number, string, string, number, string, number], Context>;
    ovStatus(token: string, waiting: string, settings: string): Result<[string, string, string, string, number, number, string] | null, Context>;
    ovLeaveWaiting(token: string, waiting: string, userId: string): Result<string | null, Context>;
    ovAdmit(waiting: string, active: string, batch: string, settings: string, nowMs: number, maxBatch: number, maxActive: number, activeTtlMs: number, prefix: string, batchTtlSeconds: number, admitPerSecond: number, paused: number): Result<string, Context>;
    ovEndSession(token: string, active: string, fan: string, userId: string, secret: string, finalStatus: string): Result<string | null, Context>;
    ovGateRelease(gate: string, reservationId: string): Result<number, Context>;
    ovGateSeal(gate: string, reservationId: string): Result<number, Context>;
  }
}

/** Registers the scripts on a client (EVALSHA with automatic fallback to EVAL, by ioredis). */
export function defineQueueScripts(redis: Redis): Redis {
  redis.defineCommand('ovJoin', { numberOfKeys: 6, lua: JOIN });
  redis.defineCommand('ovStatus', { numberOfKeys: 3, lua: STATUS });
  redis.defineCommand('ovLeaveWaiting', { numberOfKeys: 2, lua: LEAVE_WAITING });
  redis.defineCommand('ovAdmit', { numberOfKeys: 4, lua: ADMIT });
  redis.defineCommand('ovEndSession', { numberOfKeys: 3, lua: END_SESSION });
  redis.defineCommand('ovGateRelease', { numberOfKeys: 1, lua: GATE_RELEASE });
  redis.defineCommand('ovGateSeal', { numberOfKeys: 1, lua: GATE_SEAL });
  return redis;
}
