import { context, propagation, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import { BatchSpanProcessor, ConsoleSpanExporter, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { OpenTelemetryPlugin } from '@temporalio/interceptors-opentelemetry';
import type { Config } from './config';

export interface Tracing {
  /** Temporal's tracing for a Client and a Worker: spans around starts, updates, workflow code and activities, context carried in headers. */
  plugin: OpenTelemetryPlugin;
  /** Flushes the spans not yet exported; call before the process exits. */
  shutdown(): Promise<void>;
}

/**
 * OpenTelemetry tracing, off unless `OTEL_TRACES_EXPORTER` says where spans go: `otlp` (to
 * `OTEL_EXPORTER_OTLP_ENDPOINT`, default http://localhost:4318, read by the exporter itself) or
 * `console`. One trace then follows a request from the API's HTTP span through the Temporal update
 * into the journey's handler and its activities, on whichever worker they run.
 *
 * Registers the process-wide tracer provider (context kept across awaits, W3C `traceparent`
 * propagation), so it is called once, at start-up. Tests pass their own span processor.
 */
export function startTracing(service: 'api' | 'worker', config: Pick<Config, 'OTEL_TRACES_EXPORTER'>, spanProcessor?: SpanProcessor): Tracing | undefined {
  const exporter: SpanExporter | undefined =
    config.OTEL_TRACES_EXPORTER === 'otlp' ? new OTLPTraceExporter() : config.OTEL_TRACES_EXPORTER === 'console' ? new ConsoleSpanExporter() : undefined;
  const processor = spanProcessor ?? (exporter && new BatchSpanProcessor(exporter));
  if (!processor) return undefined;

  const resource = new Resource({ 'service.name': `ovation-${service}` });
  const provider = new NodeTracerProvider({ resource, spanProcessors: [processor] });
  provider.register();
  return {
    plugin: new OpenTelemetryPlugin({ resource, spanProcessor: processor }),
    async shutdown() {
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}
