import { createHash, randomUUID } from 'node:crypto';

/** Fixed namespace of Ovation's request-derived ids (RFC 9562 §5.5). Never change it: ids of retries must match. */
const OVATION_REQUEST_NAMESPACE = '6f0f7c1e-4f57-4d0b-9a53-0c2b6a3c9e11';

/** RFC 9562 UUIDv5: SHA-1 of namespace bytes + name, version and variant bits set. */
export function uuidV5(name: string, namespace: string = OVATION_REQUEST_NAMESPACE): string {
  const hash = createHash('sha1').update(Buffer.from(namespace.replace(/-/g, ''), 'hex')).update(name, 'utf8').digest();
  const bytes = hash.subarray(0, 16);
  bytes[6] = (bytes[6] & 0x0f) | 0x50;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * The id of what a request creates (a reservation, a payment). With an `Idempotency-Key` it is derived
 * from (user, endpoint, key), so every retry of the request addresses the same hold or saga and finds
 * what the first attempt did; without one a retry is a new request, with a new id.
 */
export function requestScopedId(userId: string, endpoint: string, key: string | undefined): string {
  return key === undefined ? randomUUID() : uuidV5(`${userId}\n${endpoint}\n${key}`);
}
