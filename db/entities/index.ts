export { User } from './user';
export { Wallet } from './wallet';
export { WalletTransaction, type WalletTransactionType } from './wallet-transaction';
export { Concert } from './concert';
export { ConcertSchedule } from './concert-schedule';
export { Seat, type SeatStatus } from './seat';
export { Reservation, type ReservationStatus } from './reservation';
export { Payment, type PaymentStatus } from './payment';
export { IdempotencyRecord } from './idempotency-record';
