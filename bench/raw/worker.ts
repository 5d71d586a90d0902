/**
 * The ceilings' worker (bench/raw/raw-worker.ts), in its own process like the product's. Stops on
 * SIGINT/SIGTERM.
 */
import { createRawWorker } from './raw-worker';

async function main(): Promise<void> {
  const { worker, connection } = await createRawWorker('bench-raw');
  await worker.run();
  await connection.close();
}

main().catch((err) => {
  console.error('raw worker failed:', err);
  process.exit(1);
});
