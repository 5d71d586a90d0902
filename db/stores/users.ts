import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { inTransaction } from '../transaction';

export interface UserRow {
  id: string;
  name: string;
}

export class UserStore {
  constructor(private readonly db: DataSource) {}

  /** A user and its empty wallet, together or not at all. */
  async create(name: string): Promise<UserRow> {
    const id = randomUUID();
    await inTransaction(this.db, async (tx) => {
      await tx.query('INSERT INTO users (id, name) VALUES ($1, $2)', [id, name]);
      await tx.query('INSERT INTO wallets (user_id, balance) VALUES ($1, 0)', [id]);
    });
    return { id, name };
  }

  async exists(id: string): Promise<boolean> {
    const rows = await this.db.query('SELECT 1 FROM users WHERE id = $1', [id]);
    return rows.length > 0;
  }
}
