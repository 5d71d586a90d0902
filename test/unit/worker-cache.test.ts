import { cachedJourneys } from '../../worker/create-worker';

describe("the worker's cache of journeys", () => {
  it('holds 2,000 journeys per GiB of heap beyond the first 200 MiB, and a handful on the smallest', () => {
    expect(cachedJourneys(4144)).toBe(7703); // Node 20's default heap on this 24 GiB box
    expect(cachedJourneys(1224)).toBe(2000); // a 1.2 GiB heap: room for 2,000
    expect(cachedJourneys(100)).toBe(10);
  });
});
