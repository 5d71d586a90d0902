/**
 * `npm run replay -- <history.json> [workflowId]`: replays a workflow history exported from the Web UI
 * ("Download" on a workflow) or the CLI (`temporal workflow show -w <id> --output json`) against the
 * current workflow code. Exit 0: the code still replays it; otherwise the nondeterminism is printed.
 */
import { readFileSync } from 'node:fs';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';

async function main(): Promise<void> {
  const [file, workflowId = 'replayed'] = process.argv.slice(2);
  if (!file) throw new Error('usage: npm run replay -- <history.json> [workflowId]');
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const history: unknown = JSON.parse(readFileSync(file, 'utf8'));
  await Worker.runReplayHistory({ workflowsPath: require.resolve('../workflows') }, history, workflowId);
  console.log(`replayed ${file} with the current workflow code: deterministic`);
}

main().catch((err) => {
  console.error('replay failed:', err instanceof Error ? err.message : err);
  process.exit(1);
});
