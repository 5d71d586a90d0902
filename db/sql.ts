import type { DataSource, EntityManager } from 'typeorm';

/**
 * The rows a statement returned, whatever its command: TypeORM's `query()` hands UPDATE and DELETE
 * results over as `[rows, affectedCount]`, everything else as the rows themselves.
 */
export async function rows<T>(db: DataSource | EntityManager, text: string, params: unknown[] = []): Promise<T[]> {
  const result: unknown = await db.query(text, params);
  if (Array.isArray(result) && result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number') return result[0] as T[];
  return result as T[];
}
