import type { CatalogStore, ScheduleRef } from '../db/stores/catalog';
import { DomainError } from '../lib/domain-error';

/**
 * A schedule's concert and size, which never change: read once per process and kept, for the seat map
 * and the hold (one instance per process, shared by both). The read itself is shared (single flight),
 * and an unknown schedule is not kept.
 *
 * `warm(concertId)` reads all of a concert's schedules at once, when this process first sees a fan of
 * it (a join, a poll): the fan's first hold then finds its schedule in memory. A cold read would wait
 * behind the burst itself: 1,000 fans on one contested seat, each process parsing ~500 requests before
 * the one PostgreSQL answer could resume any of them, so the gate's first claim (and the winner's hold)
 * came 176–226 ms into the burst (bench contested-seat, 2026-12-06).
 */
export class ScheduleRefs {
  private readonly known = new Map<string, Promise<ScheduleRef>>();
  private readonly warmed = new Set<string>();

  constructor(private readonly catalog: CatalogStore) {}

  get(scheduleId: string): Promise<ScheduleRef> {
    let schedule = this.known.get(scheduleId);
    if (!schedule) {
      schedule = this.catalog.schedule(scheduleId).then((found) => {
        if (!found) throw new DomainError('NOT_FOUND', 'no such schedule');
        return found;
      });
      this.known.set(scheduleId, schedule);
      schedule.catch(() => this.known.delete(scheduleId));
    }
    return schedule;
  }

  /**
   * Loads a concert's schedules in the background, once per process (the caller has checked that the
   * concert exists: a fan's join or poll of it was answered). A failed read leaves them to `get`.
   */
  warm(concertId: string): void {
    if (this.warmed.has(concertId)) return;
    this.warmed.add(concertId);
    this.catalog.schedulesOf(concertId).then(
      (refs) => {
        for (const ref of refs) if (!this.known.has(ref.scheduleId)) this.known.set(ref.scheduleId, Promise.resolve(ref));
      },
      () => this.warmed.delete(concertId),
    );
  }
}
