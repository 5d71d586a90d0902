import { loadDatabaseUrl } from '../lib/config';
import { createDataSource } from './data-source';

/** Applies pending migrations (idempotent). `npm run migrate`; also part of `npm start`. */
export async function migrate(databaseUrl: string): Promise<string[]> {
  const db = createDataSource(databaseUrl, { poolSize: 2, applicationName: 'ovation-migrate' });
  await db.initialize();
  try {
    const applied = await db.runMigrations({ transaction: 'each' });
    return applied.map((m) => m.name);
  } finally {
    await db.destroy();
  }
}

if (require.main === module) {
  migrate(loadDatabaseUrl())
    .then((applied) => console.log(applied.length ? `migrated: ${applied.join(', ')}` : 'schema up to date'))
    .catch((err) => {
      console.error('migration failed:', err);
      process.exit(1);
    });
}
