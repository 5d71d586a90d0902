import type { temporal } from '@temporalio/proto';

/**
 * A workflow history as text with every payload decoded (inputs, results, update arguments and
 * answers, markers, memo, search attributes): what an operator reads in the Web UI or an exported
 * history, so a test can assert no credential is in it. The history is walked by hand: its messages'
 * own `toJSON` would render the payloads' bytes as base64, hiding what they say.
 */
export function historyText(history: temporal.api.history.v1.IHistory): string {
  return JSON.stringify(plain(history));
}

function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
  if (Array.isArray(value)) return value.map(plain);
  if (value === null || typeof value !== 'object') return value;
  const long = value as { low?: unknown; high?: unknown; toString?: () => string };
  if (typeof long.low === 'number' && typeof long.high === 'number' && typeof long.toString === 'function') return long.toString();
  return Object.fromEntries(Object.keys(value).map((key) => [key, plain((value as Record<string, unknown>)[key])]));
}
