import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The ledger entries of a payment found by its id: the invariant checker joins every payment to its
 * PAYMENT and REFUND entries, and without this index each join scanned the whole ledger (10–20 s
 * after a 300,000-fan rush, past the statement timeout). Partial: charges carry no payment.
 */
export class LedgerByPayment1764100000000 implements MigrationInterface {
  name = 'LedgerByPayment1764100000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`CREATE INDEX wallet_transactions_payment ON wallet_transactions (payment_id) WHERE payment_id IS NOT NULL`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP INDEX IF EXISTS wallet_transactions_payment`);
  }
}
