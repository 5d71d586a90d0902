import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import { bigintAsNumber } from './transformers';

export type ReservationStatus = 'HELD' | 'CONFIRMED' | 'EXPIRED' | 'CANCELLED';

/** A partial unique index allows one HELD-or-CONFIRMED reservation per seat: no double booking. */
@Entity('reservations')
export class Reservation {
  @PrimaryColumn({ type: 'uuid' })
  id!: string;

  @Column({ name: 'user_id', type: 'uuid' })
  userId!: string;

  @Column({ name: 'concert_id', type: 'uuid' })
  concertId!: string;

  @Column({ name: 'schedule_id', type: 'uuid' })
  scheduleId!: string;

  @Column({ name: 'seat_id', type: 'bigint' })
  seatId!: string;

  @Column({ name: 'seat_number', type: 'int' })
  seatNumber!: number;

  @Column({ type: 'bigint', transformer: bigintAsNumber })
  price!: number;

  @Column({ type: 'varchar', length: 10 })
  status!: ReservationStatus;

  @Column({ name: 'held_until', type: 'timestamptz' })
  heldUntil!: Date;

  /** The fan journey workflow that owns this hold's lifecycle (pay, cancel, expiry). */
  @Column({ name: 'journey_id', type: 'varchar', length: 200 })
  journeyId!: string;

  @Column({ name: 'payment_id', type: 'uuid', nullable: true })
  paymentId!: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
