import { randomUUID } from 'node:crypto';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { startTracing, type Tracing } from '../../lib/tracing';
import { eventually } from '../support/eventually';
import { startStack, type Stack } from '../support/stack';

/**
 * One trace follows a hold from the API's HTTP span through the Temporal update into the journey's
 * handler and its local activity; spans are kept in memory instead of exported.
 */
const spans = new InMemorySpanExporter();
let tracing: Tracing;
let stack: Stack;

beforeAll(async () => {
  tracing = startTracing('api', { OTEL_TRACES_EXPORTER: 'none' }, new SimpleSpanProcessor(spans))!;
  stack = await startStack({}, { tracing });
}, 120_000);
afterAll(async () => {
  await stack?.stop();
  await tracing?.shutdown();
});

const named = (all: ReadableSpan[], name: string) => all.filter((s) => s.name === name);

describe('tracing', () => {
  it('is off unless a setting turns it on', () => {
    expect(startTracing('api', { OTEL_TRACES_EXPORTER: 'none' })).toBeUndefined();
  });

  it('one trace from POST /reservations through the hold update into the journey and its activity', async () => {
    const { api } = stack;
    const { concertId, scheduleIds } = await api.createConcert(3);
    const { fan, queueToken } = await api.admittedFan(concertId);
    spans.reset();
    const requestId = `trace-${randomUUID()}`;
    expect((await api.hold(fan, queueToken, scheduleIds[0], 1, { 'x-request-id': requestId })).status).toBe(201);

    const trace = await eventually(async () => {
      const all = spans.getFinishedSpans();
      const [http] = all.filter((s) => s.attributes['http.request.method'] === 'POST' || /POST/.test(s.name));
      expect(http).toBeDefined();
      const inTrace = all.filter((s) => s.spanContext().traceId === http.spanContext().traceId);
      expect(named(inTrace, 'UpdateWithStartWorkflow:hold')).toHaveLength(1);
      expect(named(inTrace, 'HandleUpdate:hold')).toHaveLength(1);
      expect(named(inTrace, 'RunActivity:holdSeat')).toHaveLength(1);
      return { http, inTrace };
    });
    // Parent to child: HTTP request → the client's update → the workflow's handler → … → the activity.
    const update = named(trace.inTrace, 'UpdateWithStartWorkflow:hold')[0];
    expect(update.parentSpanId).toBe(trace.http.spanContext().spanId);
    const resources = new Set(trace.inTrace.map((s) => s.resource.attributes['service.name']));
    expect(resources).toContain('ovation-api');
  });
});
