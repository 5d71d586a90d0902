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

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @OneToMany('ConcertSchedule', (schedule: ConcertSchedule) => schedule.concert)
  schedules!: ConcertSchedule[];
}
