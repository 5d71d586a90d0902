import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

/** The API's Prometheus metrics, on a registry of its own (two apps in one test process never clash). */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const httpRequests = new Counter({
    name: 'ovation_http_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const httpDuration = new Histogram({
    name: 'ovation_http_request_duration_seconds',
    help: 'HTTP request latency by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  // The children of a (method, route, status) are made once: prom-client otherwise hashes the label
  // values on every increment and observation. Routes are templates, so the set stays small.
  const series = new Map<string, { requests: { inc(): void }; duration: { observe(value: number): void } }>();
  const httpSeries = (method: string, route: string, status: number) => {
    const key = `${method} ${route} ${status}`;
    let found = series.get(key);
    if (!found) {
      const labels = { method, route, status: String(status) };
      series.set(key, (found = { requests: httpRequests.labels(labels), duration: httpDuration.labels(labels) }));
    }
    return found;
  };
  return {
    registry,
    /** The text /metrics answers: this registry's, or (in a cluster worker) every API process's summed. */
    exposition: (): Promise<string> => registry.metrics(),
    httpSeries,
    httpRequests,
    httpDuration,
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
