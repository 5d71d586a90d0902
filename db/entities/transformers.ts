import type { ValueTransformer } from 'typeorm';

/** KRW amounts are bigint columns; every amount the API accepts fits a JS number exactly. */
export const bigintAsNumber: ValueTransformer = {
  to: (value: number | null | undefined) => value,
  from: (value: string | null) => (value === null ? null : Number(value)),
};
