import 'reflect-metadata';
import { DataSource } from 'typeorm';
import * as entities from './entities';
import { InitialSchema1764000000000 } from './migrations/1764000000000-initial-schema';
import { LedgerByPayment1764100000000 } from './migrations/1764100000000-ledger-by-payment';
import { IdempotencyInDoubt1765100000000 } from './migrations/1765100000000-idempotency-in-doubt';
import { AfterSale1765200000000 } from './migrations/1765200000000-after-sale';
import { IdempotencyRetention1765300000000 } from './migrations/1765300000000-idempotency-retention';
import { OrdersAndPurchaseLimits1765400000000 } from './migrations/1765400000000-orders-and-purchase-limits';
import { SalesOpenAt1765450000000 } from './migrations/1765450000000-sales-open-at';
import { SeatsLeftIndex1765500000000 } from './migrations/1765500000000-seats-left-index';
import { PurchaseInOneCall1765600000000 } from './migrations/1765600000000-purchase-in-one-call';

/**
 * One DataSource shape for the API, the worker, the tests and the TypeORM CLI. Schema changes go
 * through migrations only: `synchronize` stays off everywhere.
 */
export function createDataSource(url: string, options: { poolSize?: number; applicationName?: string } = {}): DataSource {
  return new DataSource({
    type: 'postgres',
    url,
    entities: Object.values(entities).filter((e) => typeof e === 'function'),
    migrations: [InitialSchema1764000000000, LedgerByPayment1764100000000, IdempotencyInDoubt1765100000000, AfterSale1765200000000, IdempotencyRetention1765300000000, OrdersAndPurchaseLimits1765400000000, SalesOpenAt1765450000000, SeatsLeftIndex1765500000000, PurchaseInOneCall1765600000000],
    migrationsTransactionMode: 'each',
    synchronize: false,
    logging: ['error'],
    applicationName: options.applicationName ?? 'ovation',
    extra: {
      max: options.poolSize ?? 20,
      // A dependency outage answers 503 quickly instead of hanging a request.
      connectionTimeoutMillis: 3000,
      statement_timeout: 10_000,
    },
  });
}

/** For the TypeORM CLI (`typeorm migration:show -d dist/db/data-source.js`). */
export default createDataSource(process.env.DATABASE_URL ?? 'postgres://ovation:ovation@127.0.0.1:5432/ovation');
