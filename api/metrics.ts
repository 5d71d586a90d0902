import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

/** The API's Prometheus metrics, on a registry of its own (two apps in one test process never clash). */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    httpRequests: new Counter({
      name: 'ovation_http_requests_total',
      help: 'HTTP requests by route and status',
      labelNames: ['method', 'route', 'status'] as const,
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'ovation_http_request_duration_seconds',
      help: 'HTTP request latency by route and status',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    seatGateRefusals: new Counter({
      name: 'ovation_seat_gate_refusals_total',
      help: 'Hold attempts refused by the Redis seat gate before any Temporal or Postgres work',
      registers: [registry],
    }),
    holds: new Counter({
      name: 'ovation_holds_total',
      help: 'Hold attempts that reached the fan journey, by outcome',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    payments: new Counter({
      name: 'ovation_payments_total',
      help: 'Payments by outcome',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
