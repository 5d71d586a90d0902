/**
 * Runs `work` on every item with at most `limit` calls in flight (each of `limit` lanes takes the next
 * item when its call ends) and answers the results in item order. A burst against a connection pool
 * of `limit` connections: every call has its connection at once, none waits in the pool's queue (and
 * none fails on its connection timeout, on a loaded machine), while `limit` of them still contend.
 */
export async function inParallel<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}
