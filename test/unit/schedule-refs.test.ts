import type { CatalogStore, ScheduleRef } from '../../db/stores/catalog';
import { DomainError } from '../../lib/domain-error';
import { ScheduleRefs } from '../../api/schedule-refs';

/** A catalog of one concert with two schedules, counting its reads (a fake: this is a unit test). */
function fakeCatalog(opts: { failSchedulesOf?: number } = {}) {
  const refs: ScheduleRef[] = [
    { scheduleId: 's1', concertId: 'c1', totalSeats: 100 },
    { scheduleId: 's2', concertId: 'c1', totalSeats: 50 },
  ];
  const reads = { schedule: 0, schedulesOf: 0 };
  let failures = opts.failSchedulesOf ?? 0;
  const catalog = {
    schedule: async (id: string) => {
      reads.schedule++;
      return refs.find((r) => r.scheduleId === id) ?? null;
    },
    schedulesOf: async (concertId: string) => {
      reads.schedulesOf++;
      if (failures-- > 0) throw new Error('connection refused');
      return refs.filter((r) => r.concertId === concertId);
    },
  };
  return { catalog: catalog as unknown as CatalogStore, reads };
}

/** Lets the background read settle. */
const settled = () => new Promise((resolve) => setImmediate(resolve));

describe('ScheduleRefs', () => {
  it('a burst for a schedule not seen yet makes one read, and an unknown schedule is NOT_FOUND each time it is asked', async () => {
    const { catalog, reads } = fakeCatalog();
    const refs = new ScheduleRefs(catalog);
    const answers = await Promise.all(Array.from({ length: 100 }, () => refs.get('s1')));
    expect(answers.every((a) => a.totalSeats === 100)).toBe(true);
    expect(reads.schedule).toBe(1);
    await expect(refs.get('nope')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(refs.get('nope')).rejects.toBeInstanceOf(DomainError);
    expect(reads.schedule).toBe(3);
  });

  it("warmed by a concert's fan, knows every schedule of it with one read, once per process", async () => {
    const { catalog, reads } = fakeCatalog();
    const refs = new ScheduleRefs(catalog);
    refs.warm('c1');
    refs.warm('c1');
    await settled();
    expect(await refs.get('s1')).toEqual({ scheduleId: 's1', concertId: 'c1', totalSeats: 100 });
    expect(await refs.get('s2')).toEqual({ scheduleId: 's2', concertId: 'c1', totalSeats: 50 });
    expect(reads).toEqual({ schedule: 0, schedulesOf: 1 });
  });

  it('after a failed warm-up, the next fan warms it again, and holds meanwhile read their schedule themselves', async () => {
    const { catalog, reads } = fakeCatalog({ failSchedulesOf: 1 });
    const refs = new ScheduleRefs(catalog);
    refs.warm('c1');
    await settled();
    expect((await refs.get('s1')).totalSeats).toBe(100);
    expect(reads.schedule).toBe(1);
    refs.warm('c1');
    await settled();
    expect((await refs.get('s2')).totalSeats).toBe(50);
    expect(reads).toEqual({ schedule: 1, schedulesOf: 2 });
  });
});
