import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { bigintAsNumber } from './transformers';

export type SeatStatus = 'AVAILABLE' | 'HELD' | 'SOLD';

/**
 * A seat of one schedule. `reservation_id` names the live reservation holding or owning it, so a
 * release is conditional on that reservation still being the holder. A HELD seat whose `held_until`
 * + grace has passed is bookable: the deadline is data, not only a timer.
 */
@Entity('seats')
export class Seat {
  @PrimaryGeneratedColumn({ type: 'bigint' })
  id!: string;

  @Column({ name: 'schedule_id', type: 'uuid' })
  scheduleId!: string;

  @Column({ type: 'int' })
  number!: number;

  @Column({ type: 'bigint', transformer: bigintAsNumber })
  price!: number;

  @Column({ type: 'varchar', length: 10, default: 'AVAILABLE' })
  status!: SeatStatus;

  @Column({ name: 'held_until', type: 'timestamptz', nullable: true })
  heldUntil!: Date | null;

  @Column({ name: 'reservation_id', type: 'uuid', nullable: true })
  reservationId!: string | null;
}
