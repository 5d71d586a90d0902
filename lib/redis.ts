import Redis, { Cluster, type RedisOptions } from 'ioredis';

/**
 * The Redis client every part of Ovation takes: one Redis, or a Redis Cluster when
 * `REDIS_CLUSTER_NODES` is set. Both speak the same commands (scripts registered with
 * `defineCommand` included); on a cluster every multi-key command, script and pipeline must stay in
 * one hash slot, which is why every key of a concert carries its `{concertId}` tag (queue/keys.ts).
 */
export type RedisClient = Redis | Cluster;

/** Fail fast (no offline queue, one retry): the API answers 503 instead of hanging while Redis is down. */
const NODE_OPTIONS: RedisOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  connectTimeout: 2000,
  retryStrategy: (attempt) => Math.min(attempt * 100, 1000),
  lazyConnect: false,
};

/**
 * One Redis client per process: a standalone client on `url`, or a cluster client seeded with
 * `clusterNodes` (`host:port,host:port,…`; any reachable master is enough, the client reads the slot
 * map from it). Either way commands fail fast while their Redis (node) is down, and the client
 * reconnects by itself when it is back.
 */
export function createRedis(
  url: string,
  clusterNodes?: string,
  { autoPipelining = false, commandTimeoutMs = 2000 }: { autoPipelining?: boolean; commandTimeoutMs?: number } = {},
): RedisClient {
  const nodes = parseClusterNodes(clusterNodes);
  const nodeOptions: RedisOptions = { ...NODE_OPTIONS, commandTimeout: commandTimeoutMs };
  // Auto-pipelining sends the commands issued in one event-loop turn as one write (one syscall for
  // many requests' scripts under a rush). Standalone only: on a cluster ioredis groups a pipelined
  // EVALSHA by its first argument, not its key (redis/ioredis#2109).
  if (nodes.length === 0) return new Redis(url, { ...nodeOptions, enableAutoPipelining: autoPipelining });
  return new Cluster(nodes, {
    enableOfflineQueue: false,
    // A master that is down fails the commands of its own slots; the client re-reads the slot map
    // every 100 ms to 1 s until it is back, and keeps serving the other masters' slots meanwhile.
    clusterRetryStrategy: (attempt) => Math.min(attempt * 100, 1000),
    // A command for a dead master is retried through redirections ~100 ms apart before it fails
    // (then 503): 4 keep that well under a second and still follow a resharding's MOVED then ASK.
    maxRedirections: 4,
    slotsRefreshTimeout: 2000,
    redisOptions: nodeOptions,
  });
}

/** `host:port,host:port` (spaces allowed) to ioredis' node list; empty or unset: no cluster. */
export function parseClusterNodes(clusterNodes: string | undefined): Array<{ host: string; port: number }> {
  return (clusterNodes ?? '')
    .split(',')
    .map((node) => node.trim())
    .filter(Boolean)
    .map((node) => {
      const at = node.lastIndexOf(':');
      const port = Number(node.slice(at + 1));
      if (at <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`REDIS_CLUSTER_NODES: "${node}" is not host:port`);
      return { host: node.slice(0, at), port };
    });
}

/**
 * Resolves once the client is ready (the offline queue is off, so commands before that would fail).
 * A cluster client is ready once it has read the slot map and connected to a master.
 */
export async function redisReady(redis: RedisClient, timeoutMs = 10_000): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Redis not ready after ${timeoutMs} ms`)), timeoutMs);
    redis.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export type { Redis, Cluster };
