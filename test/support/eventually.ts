/**
 * Waits for a condition the system reaches by itself (an admission, a release), checking it again
 * and again until it holds: the test waits for the event, not for a guessed duration.
 */
export async function eventually<T>(check: () => Promise<T>, { timeoutMs = 20_000, intervalMs = 25 } = {}): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }
}
