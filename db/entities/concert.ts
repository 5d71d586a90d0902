import { Column, CreateDateColumn, Entity, OneToMany, PrimaryColumn } from 'typeorm';
import type { ConcertSchedule } from './concert-schedule';

@Entity('concerts')
export class Concert {
  @PrimaryColumn({ type: 'uuid' })
  id!: string;

  @Column({ type: 'varchar', length: 200 })
  title!: string;

  @Column({ type: 'text', nullable: true })
  description!: string | null;

  /** When the sales open: fans who join before are pre-queued (queue/fair-start.ts). */
  @Column({ name: 'sales_open_at', type: 'timestamptz', default: () => 'now()' })
  salesOpenAt!: Date;

  /** The secret seed of the pre-queue's order (hex), published after the opening; NULL: no pre-queue. */
  @Column({ name: 'queue_seed', type: 'text', nullable: true })
  queueSeed!: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @OneToMany('ConcertSchedule', (schedule: ConcertSchedule) => schedule.concert)
  schedules!: ConcertSchedule[];
}
