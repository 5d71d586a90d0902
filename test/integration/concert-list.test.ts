import { CatalogStore, encodeConcertCursor } from '../../db/stores/catalog';
import { startStack, type Stack } from '../support/stack';

/**
 * GET /concerts is paged like the other lists (issue 23): `limit` (default and at most 100) and the
 * `nextCursor` of the previous page. Without parameters it answers today's shape (`items`), plus
 * `nextCursor` when more follow. Other test files create concerts meanwhile; the walk still sees each
 * concert once, in creation order.
 */
let stack: Stack;
beforeAll(async () => {
  stack = await startStack({}, { worker: false });
});
afterAll(async () => {
  await stack?.stop();
});

const page = (query = '') => stack.api.call('GET', `/concerts${query}`);

it('walks every concert once, oldest first, page by page; ours appear in the order they were created', async () => {
  const catalog = new CatalogStore(stack.db);
  const startsAt = new Date(Date.now() + 7 * 86_400_000);
  const ours: string[] = [];
  for (let i = 0; i < 5; i++) {
    const created = await catalog.createConcert({ title: `Paged ${i}`, schedules: [{ startsAt, bookingOpensAt: new Date(), bookingClosesAt: startsAt, seatCount: 1, price: 1 }] });
    ours.push(created.concertId);
  }
  const before: string[] = (await stack.db.query('SELECT id FROM concerts ORDER BY created_at, id')).map((r: { id: string }) => r.id);

  const first = await page();
  expect(first.status).toBe(200);
  expect(first.body.items.length).toBeGreaterThanOrEqual(Math.min(100, before.length)); // others may have been created since
  expect(first.body.items.length).toBeLessThanOrEqual(100);
  if (first.body.items.length < 100) expect(first.body.nextCursor).toBeUndefined();
  expect(first.body.items[0]).toEqual(expect.objectContaining({ concertId: before[0], title: expect.any(String), schedules: expect.any(Array) }));

  const walked: string[] = [];
  let cursor: string | undefined;
  do {
    const res = await page(`?limit=100${cursor ? `&cursor=${cursor}` : ''}`);
    expect(res.status).toBe(200);
    walked.push(...res.body.items.map((c: { concertId: string }) => c.concertId));
    cursor = res.body.nextCursor;
  } while (cursor);
  expect(new Set(walked).size).toBe(walked.length);
  expect(walked.slice(0, before.length)).toEqual(before);
  expect(walked.filter((id) => ours.includes(id))).toEqual(ours);

  // Small pages follow the same order.
  const two = await page('?limit=2');
  expect(two.body.items.map((c: { concertId: string }) => c.concertId)).toEqual(before.slice(0, 2));
  const next = await page(`?limit=2&cursor=${two.body.nextCursor}`);
  expect(next.body.items.map((c: { concertId: string }) => c.concertId)).toEqual(before.slice(2, 4));
});

it.each([
  ['a cursor this API never returned', '?cursor=bm90LWEtY3Vyc29y'],
  ['a cursor naming 30 February', `?cursor=${encodeConcertCursor({ createdAt: '2026-02-30T00:00:00.000000Z', id: '00000000-0000-4000-8000-000000000000' })}`],
  ['a limit over 100', '?limit=101'],
  ['a limit of 0', '?limit=0'],
])('refuses %s with 400 VALIDATION_FAILED', async (_what, query) => {
  const res = await page(query);
  expect(res).toMatchObject({ status: 400, body: { code: 'VALIDATION_FAILED' } });
});

it("lists a concert's schedules with their sizes (what an API process keeps of them), and none of another concert's", async () => {
  const catalog = new CatalogStore(stack.db);
  const startsAt = new Date(Date.now() + 7 * 86_400_000);
  const schedule = (seatCount: number) => ({ startsAt, bookingOpensAt: new Date(), bookingClosesAt: startsAt, seatCount, price: 1 });
  const { concertId } = await catalog.createConcert({ title: 'Two nights', schedules: [schedule(3), schedule(5)] });
  await catalog.createConcert({ title: 'Another', schedules: [schedule(7)] });
  const ids: string[] = (await stack.db.query('SELECT id FROM concert_schedules WHERE concert_id = $1', [concertId])).map((r: { id: string }) => r.id);

  const refs = await catalog.schedulesOf(concertId);
  expect(refs.map((r) => r.totalSeats).sort()).toEqual([3, 5]);
  expect(refs.map((r) => r.scheduleId).sort()).toEqual([...ids].sort());
  expect(refs.every((r) => r.concertId === concertId)).toBe(true);
  for (const ref of refs) expect(await catalog.schedule(ref.scheduleId)).toEqual(ref);
});
