import { loadDatabaseUrl } from '../lib/config';
import { createDataSource } from './data-source';
import { CatalogStore } from './stores/catalog';

const DAY = 24 * 3600 * 1000;

/**
 * The demo catalog `npm start` applies to an empty database: one concert, three dates of 50 seats,
 * booking open now. A database that has any concert is left alone, so a restart loses nothing.
 */
export async function seedDemo(databaseUrl: string): Promise<string | null> {
  const db = createDataSource(databaseUrl, { poolSize: 2, applicationName: 'ovation-seed' });
  await db.initialize();
  try {
    const catalog = new CatalogStore(db);
    if ((await catalog.concertIds()).length > 0) return null;
    const now = Date.now();
    const { concertId } = await catalog.createConcert({
      title: 'Ovation Live: Opening Night',
      description: 'Demo concert seeded by npm start',
      schedules: [7, 8, 9].map((days) => ({
        startsAt: new Date(now + days * DAY),
        bookingOpensAt: new Date(now - DAY),
        bookingClosesAt: new Date(now + (days - 1) * DAY),
        seatCount: 50,
        price: 80_000,
      })),
    });
    return concertId;
  } finally {
    await db.destroy();
  }
}

if (require.main === module) {
  seedDemo(loadDatabaseUrl())
    .then((id) => console.log(id ? `seeded demo concert ${id}` : 'catalog not empty: seed skipped'))
    .catch((err) => {
      console.error('seed failed:', err);
      process.exit(1);
    });
}
