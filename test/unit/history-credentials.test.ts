import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * No credential in a recorded history (issue 23). The histories in test/fixtures are exported the
 * way an operator exports one (payloads base64-encoded JSON): decoded, the journeys recorded since
 * issue 23 (`-v3`) hold no queue token and no access token anywhere, while the earlier recordings
 * carry the fan's queue token in the journey's input, which is what this issue removed.
 */
const FIXTURES = join(__dirname, '..', 'fixtures');
const QUEUE_TOKEN = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.[A-Za-z0-9_-]{32}(?![A-Za-z0-9_-])/;
const ACCESS_TOKEN = /eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{20,}/;

/** Every payload's `data` decoded from base64, joined: what the Web UI shows of the history. */
function decodedPayloads(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) value.forEach((v) => decodedPayloads(v, out));
  else if (value && typeof value === 'object') {
    for (const [key, v] of Object.entries(value)) {
      if (key === 'data' && typeof v === 'string') out.push(Buffer.from(v, 'base64').toString('utf8'));
      else decodedPayloads(v, out);
    }
  }
  return out;
}

const credentialsIn = (file: string) => {
  const text = decodedPayloads(JSON.parse(readFileSync(join(FIXTURES, file), 'utf8'))).join('\n');
  return { queueToken: QUEUE_TOKEN.test(text), accessToken: ACCESS_TOKEN.test(text) };
};

const recordedSince = readdirSync(FIXTURES).filter((f) => /-v3\.json$/.test(f));

it('has journeys recorded since issue 23 to check', () => {
  expect(recordedSince.filter((f) => f.startsWith('journey-')).length).toBeGreaterThanOrEqual(5);
});

it.each(recordedSince)('%s holds no queue token and no access token', (file) => {
  expect(credentialsIn(file)).toEqual({ queueToken: false, accessToken: false });
});

it('finds the queue token in a journey recorded before issue 23 (the check sees a token where there is one)', () => {
  expect(credentialsIn('journey-left-v2.json').queueToken).toBe(true);
});
