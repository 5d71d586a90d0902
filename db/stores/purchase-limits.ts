import type { DataSource } from 'typeorm';
import { rows } from '../sql';

/**
 * The purchase limit per fan per concert: `concerts.max_seats_per_fan`, enforced by the reservations
 * trigger of migration 1765400000000 over `fan_concert_seats` (a fan's sold plus live-held seats).
 * This store only sets and reads it: the enforcement is the database's, whoever writes reservations.
 */
export class PurchaseLimitStore {
  constructor(private readonly db: DataSource) {}

  /** Sets a concert's limit; false when there is no such concert. Lowering it takes no seat back: it refuses new holds only. */
  async set(concertId: string, maxSeatsPerFan: number): Promise<boolean> {
    const updated = await rows(this.db, 'UPDATE concerts SET max_seats_per_fan = $2 WHERE id = $1 RETURNING 1', [concertId, maxSeatsPerFan]);
    return updated.length > 0;
  }

  async get(concertId: string): Promise<number | null> {
    const found = await rows<{ max_seats_per_fan: number }>(this.db, 'SELECT max_seats_per_fan FROM concerts WHERE id = $1', [concertId]);
    return found.length ? found[0].max_seats_per_fan : null;
  }

  /** The seats a fan has sold or held in a concert now, as the limit counts them. */
  async seatsOf(userId: string, concertId: string): Promise<number> {
    const found = await rows<{ seats: number }>(this.db, 'SELECT seats FROM fan_concert_seats WHERE user_id = $1 AND concert_id = $2', [userId, concertId]);
    return found.length ? found[0].seats : 0;
  }
}
