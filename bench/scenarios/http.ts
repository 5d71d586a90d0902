import { httpLoad } from '../lib/load';
import { launch, portAnswers, stopChild, waitFor } from '../lib/proc';
import type { Scenario } from '../lib/scenario';
import { BENCH } from '../lib/stack';

/** What one Node process serving HTTP can do here: the bound of every API scenario. */
export const http: Scenario = {
  name: 'http',
  kind: 'ceiling',
  what: 'GET / of a bare Hono hello-world on @hono/node-server (own process), autocannon 50 connections',
  reference: { rate: 87_000, label: '≈ 87,000' },
  async run(ctx) {
    const server = launch('hello', 'aux', process.execPath, ['--import', 'tsx', 'bench/raw/hello.ts'], { ...process.env, PORT: String(BENCH.helloPort) });
    try {
      await waitFor('the hello-world server', () => portAnswers(BENCH.helloPort), 60_000, server);
      return [
        await httpLoad({
          name: 'http',
          url: `http://127.0.0.1:${BENCH.helloPort}`,
          connections: 50,
          durationS: ctx.durationS,
          warmupS: ctx.sizes.warmupS,
          request: { method: 'GET', path: '/' },
        }),
      ];
    } finally {
      await stopChild(server);
    }
  },
};
