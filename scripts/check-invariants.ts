/** `npm run check:invariants`: reports every violation of DESIGN.md's invariants in a live database. */
import { createDataSource } from '../db/data-source';
import { findViolations } from '../db/invariants';
import { loadDatabaseUrl } from '../lib/config';

async function main(): Promise<void> {
  const db = createDataSource(loadDatabaseUrl(), { poolSize: 1, applicationName: 'ovation-invariants' });
  await db.initialize();
  try {
    const violations = await findViolations(db);
    if (!violations.length) {
      console.log('invariants hold: no seat sold twice, every wallet equals its ledger, every payment accounted for');
      return;
    }
    for (const v of violations) console.error(`VIOLATED: ${v.invariant}\n  ${JSON.stringify(v.rows)}`);
    process.exitCode = 1;
  } finally {
    await db.destroy();
  }
}

void main();
