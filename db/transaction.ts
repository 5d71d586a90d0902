import type { DataSource, EntityManager } from 'typeorm';
import { isRetryableConflict } from './pg-errors';

/** Runs `work` in one transaction, once more on a serialization failure or deadlock. */
export async function inTransaction<T>(db: DataSource, work: (tx: EntityManager) => Promise<T>): Promise<T> {
  try {
    return await db.transaction(work);
  } catch (err) {
    if (!isRetryableConflict(err)) throw err;
    return db.transaction(work);
  }
}
