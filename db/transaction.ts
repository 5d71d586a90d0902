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

/**
 * A one-statement fast path tried before `inTransaction`: a serialization failure or deadlock (or an
 * error `fallsThrough` names) rolled the statement back whole, so it answers null and the caller runs
 * its transaction, which tells the cases apart.
 */
export async function fastPath<T>(attempt: Promise<T>, fallsThrough: (err: unknown) => boolean = () => false): Promise<T | null> {
  try {
    return await attempt;
  } catch (err) {
    if (isRetryableConflict(err) || fallsThrough(err)) return null;
    throw err;
  }
}
