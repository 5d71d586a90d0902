/** No-op activities: the ceilings measure Temporal's own cost of the shape, not any I/O. */
export const rawActivities = {
  async noop(n: number): Promise<number> {
    return n;
  },
};
