import { createHash } from 'node:crypto';
import type { Pool } from 'pg';
import type { DataSource, EntityManager } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';

/**
 * The rows a statement returned, whatever its command: TypeORM's `query()` hands UPDATE and DELETE
 * results over as `[rows, affectedCount]`, everything else as the rows themselves.
 */
export async function rows<T>(db: DataSource | EntityManager, text: string, params: unknown[] = []): Promise<T[]> {
  const result: unknown = await db.query(text, params);
  if (Array.isArray(result) && result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number') return result[0] as T[];
  return result as T[];
}

/** A statement of a hot path, named for PostgreSQL by its text: see `preparedRows`. */
export interface Prepared {
  readonly name: string;
  readonly text: string;
}

/** Names `text` by its hash, so two statements never share a name and one text always has the same. */
export function prepared(text: string): Prepared {
  return { name: `ov_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`, text };
}

/** The pool of connections behind a DataSource (node-postgres', which TypeORM wraps). */
export function poolOf(db: DataSource): Pool {
  return (db.driver as PostgresDriver).master as Pool;
}

/**
 * The rows of a prepared statement, run on the DataSource's pool outside any transaction. Each
 * connection parses and plans it once, then only binds and executes it: a third less of
 * PostgreSQL's CPU for the hold's statement (bench/README.md). For the statements every hold,
 * payment and release runs, not for every query: a statement whose result columns change type
 * under it (a migration of a running fleet) fails until its connection is replaced. Errors are
 * node-postgres' own, not TypeORM's wrapping (db/pg-errors.ts reads both).
 */
export async function preparedRows<T>(db: DataSource, statement: Prepared, params: unknown[]): Promise<T[]> {
  const result = await poolOf(db).query({ name: statement.name, text: statement.text, values: params });
  return result.rows as T[];
}
