import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AFTER_SALE_SEARCH_ATTRIBUTE_TYPES, SEARCH_ATTRIBUTE_TYPES } from '../../workflows/definitions';
import { ROOT } from '../support/paths';

describe('docker-compose.yml', () => {
  it('is a valid compose file that refuses to start without its secrets (docker-compose config)', () => {
    const output = execFileSync('bash', [join(ROOT, 'scripts/validate-compose.sh')], { encoding: 'utf8' });
    expect(output).toMatch(/OK/);
  });

  it('registers every search attribute the journeys upsert', () => {
    const compose = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');
    for (const [name, type] of Object.entries({ ...SEARCH_ATTRIBUTE_TYPES, ...AFTER_SALE_SEARCH_ATTRIBUTE_TYPES })) {
      expect(compose).toContain(`${name}:${type}`);
    }
  });
});
