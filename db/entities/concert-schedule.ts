import { Column, CreateDateColumn, Entity, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import type { Concert } from './concert';

/** One performance of a concert, with its booking window and seat count. */
@Entity('concert_schedules')
export class ConcertSchedule {
  @PrimaryColumn({ type: 'uuid' })
  id!: string;

  @Column({ name: 'concert_id', type: 'uuid' })
  concertId!: string;

  @ManyToOne('Concert', (concert: Concert) => concert.schedules, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'concert_id' })
  concert!: Concert;

  @Column({ name: 'starts_at', type: 'timestamptz' })
  startsAt!: Date;

  @Column({ name: 'booking_opens_at', type: 'timestamptz' })
  bookingOpensAt!: Date;

  @Column({ name: 'booking_closes_at', type: 'timestamptz' })
  bookingClosesAt!: Date;

  @Column({ name: 'total_seats', type: 'int' })
  totalSeats!: number;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}
