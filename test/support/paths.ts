import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(__dirname, '..', '..');
const TOOLS_DIR = process.env.TOOLS_DIR ?? join(ROOT, '.tools');

/**
 * The provisioned server binaries, or undefined: then the SDK downloads its own (only where the
 * machine is online; `scripts/provision.sh --test` builds both here).
 */
export function devServerExecutable() {
  const path = join(TOOLS_DIR, 'bin', 'temporal');
  return existsSync(path) ? { type: 'existing-path' as const, path } : undefined;
}

export function timeSkippingExecutable() {
  const path = join(TOOLS_DIR, 'temporal-test-server');
  return existsSync(path) ? { type: 'existing-path' as const, path } : undefined;
}

/**
 * One bundle per test database, so two jest runs against different databases (an engineer's run beside
 * CI's, say) never read each other's half-written bundle.
 */
const testDatabase = new URL(process.env.DATABASE_URL ?? 'postgres://localhost/ovation_test').pathname.slice(1);
export const WORKFLOW_BUNDLE_PATH = join(ROOT, '.data', `test-workflow-bundle-${testDatabase}.js`);
