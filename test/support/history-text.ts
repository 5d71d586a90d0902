import type { temporal } from '@temporalio/proto';

/**
 * A workflow history as text with every payload decoded (inputs, results, update arguments and
 * answers, markers, memo, search attributes): what an operator reads in the Web UI or an exported
 * history, so a test can assert no credential is in it.
 */
export function historyText(history: temporal.api.history.v1.IHistory): string {
  return JSON.stringify(history, (_key, value: unknown) => {
    if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
    const buffer = value as { type?: unknown; data?: unknown } | null;
    if (buffer && buffer.type === 'Buffer' && Array.isArray(buffer.data)) return Buffer.from(buffer.data as number[]).toString('utf8');
    return value;
  });
}
