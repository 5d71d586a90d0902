import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Registry } from 'prom-client';
import { createMetrics } from '../../api/metrics';
import { createWorkerMetrics } from '../../worker/metrics';
import { ROOT } from '../support/paths';

/**
 * The Grafana dashboard may only query series that the services really export: the API's registry
 * (api/metrics.ts), the worker's (worker/metrics.ts), and the Temporal SDK's exporter, whose series
 * are listed in a sample captured from a running worker (test/ops/fixtures/temporal-sdk-metrics.prom).
 */

const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const dashboard = JSON.parse(read('docker/grafana/dashboards/ovation.json'));

/** Labels Prometheus adds to every scraped series. */
const TARGET_LABELS = ['job', 'instance'];

interface Series {
  source: string;
  labels: Set<string>;
}

/** Every sample name a prom-client registry exposes (histograms: _bucket, _sum, _count), with its labels. */
async function registrySeries(source: string, registry: Registry): Promise<Map<string, Series>> {
  const series = new Map<string, Series>();
  for (const metric of await registry.getMetricsAsJSON()) {
    const declared = (registry.getSingleMetric(metric.name) as unknown as { labelNames?: string[] }).labelNames ?? [];
    const labels = new Set([...declared, ...metric.values.flatMap((v) => Object.keys(v.labels))]);
    const type = String(metric.type); // 'histogram', … at run time (the typings say a numeric enum)
    const add = (name: string, extra: string[] = []) => series.set(name, { source, labels: new Set([...labels, ...extra]) });
    if (type === 'histogram') {
      add(`${metric.name}_bucket`, ['le']);
      add(`${metric.name}_sum`);
      add(`${metric.name}_count`);
    } else if (type === 'summary') {
      add(metric.name, ['quantile']);
      add(`${metric.name}_sum`);
      add(`${metric.name}_count`);
    } else {
      add(metric.name);
    }
  }
  return series;
}

/** Every sample name in a Prometheus text exposition, with the labels seen on it. */
function exposedSeries(source: string, text: string): Map<string, Series> {
  const series = new Map<string, Series>();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s/.exec(line);
    if (!m) continue;
    const labels = [...(m[3] ?? '').matchAll(/([a-zA-Z_]\w*)="/g)].map((l) => l[1]);
    const known = series.get(m[1]) ?? { source, labels: new Set<string>() };
    labels.forEach((l) => known.labels.add(l));
    series.set(m[1], known);
  }
  return series;
}

const PROMQL_KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan', 'Inf', 'NaN']);

/** The series a PromQL expression selects, each with the label names it matches on. */
export function selectors(expr: string): Array<{ metric: string; labels: string[] }> {
  const found: Array<{ metric: string; labels: string[] }> = [];
  const text = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // string literals (label values, regexes)
    .replace(/\[[^\]]*\]/g, '') // range and subquery selectors: [5m], [$__rate_interval]
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ') // label lists
    .replace(/\$\{?\w+\}?/g, ' ') // Grafana variables outside strings
    .replace(/(?<![\w:])\d+(?:\.\d+)?(?:e[+-]?\d+)?(?![\w:])/gi, ' '); // numbers
  for (const m of text.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?/g)) {
    const after = text.slice(m.index! + m[0].length);
    if (!m[2] && /^\(/.test(after)) continue; // a function or an aggregation
    if (PROMQL_KEYWORDS.has(m[1])) continue;
    const labels = [...(m[2] ?? '').matchAll(/([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)/g)].map((l) => l[1]);
    found.push({ metric: m[1], labels });
  }
  return found;
}

/** The labels an expression groups by (`by (…)`, `without (…)`). */
const groupingLabels = (expr: string) =>
  [...expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)].flatMap((m) => m[1].split(',').map((l) => l.trim()).filter(Boolean));

interface Query {
  where: string;
  expr: string;
}

/** Every PromQL expression in the dashboard: panel targets (rows' nested panels too) and variable queries. */
function queries(d: any): Query[] {
  const panels = (list: any[]): any[] => list.flatMap((p) => [p, ...panels(p.panels ?? [])]);
  const fromPanels = panels(d.panels ?? []).flatMap((p) => (p.targets ?? []).map((t: any) => ({ where: `panel "${p.title}" ${t.refId}`, expr: t.expr as string })));
  const fromVariables = (d.templating?.list ?? [])
    .filter((v: any) => v.type === 'query')
    .map((v: any) => {
      const q: string = typeof v.query === 'string' ? v.query : v.query.query;
      // label_values(<selector>, <label>) is Grafana's, not PromQL: check it as `<selector>` grouped by `<label>`.
      const lv = /^label_values\((.*),\s*(\w+)\s*\)$/.exec(q.trim());
      return { where: `variable $${v.name}`, expr: lv ? `max by (${lv[2]}) (${lv[1]})` : q };
    });
  return [...fromPanels, ...fromVariables];
}

let exported: Map<string, Series>;
beforeAll(async () => {
  const sdk = exposedSeries('sdk', read('test/ops/fixtures/temporal-sdk-metrics.prom'));
  const worker = await registrySeries('worker', createWorkerMetrics().registry);
  const api = await registrySeries('api', createMetrics().registry);
  exported = new Map([...sdk, ...worker, ...api]);
});

describe('the Grafana dashboard (docker/grafana/dashboards/ovation.json)', () => {
  it('has a query on every panel, on the provisioned Prometheus datasource', () => {
    const datasources = read('docker/grafana/provisioning/datasources/prometheus.yml');
    const uid = /^\s*uid:\s*(\S+)/m.exec(datasources)![1];
    const graphs = dashboard.panels.filter((p: any) => p.type !== 'row');
    expect(graphs.length).toBeGreaterThanOrEqual(12);
    for (const panel of graphs) {
      expect({ panel: panel.title, targets: panel.targets.length > 0 }).toEqual({ panel: panel.title, targets: true });
      expect({ panel: panel.title, uid: panel.datasource.uid }).toEqual({ panel: panel.title, uid });
      for (const target of panel.targets) expect(target.expr).toMatch(/\S/);
    }
  });

  it('queries only series the API, the worker and the Temporal SDK export, on labels they carry', () => {
    const problems: string[] = [];
    const used = new Set<string>();
    for (const { where, expr } of queries(dashboard)) {
      const selected = selectors(expr);
      if (!selected.length) problems.push(`${where}: no series in ${expr}`);
      for (const { metric, labels } of selected) {
        used.add(metric);
        const series = exported.get(metric);
        if (!series) {
          problems.push(`${where}: ${metric} is exported by no service`);
          continue;
        }
        for (const label of labels) if (!series.labels.has(label) && !TARGET_LABELS.includes(label)) problems.push(`${where}: ${metric} has no label ${label}`);
      }
      // A grouping label must exist on some series of the expression (le on histogram buckets).
      for (const label of groupingLabels(expr)) {
        const carried = selected.some(({ metric }) => exported.get(metric)?.labels.has(label));
        if (!carried && !TARGET_LABELS.includes(label)) problems.push(`${where}: no series in "${expr}" has the label ${label}`);
      }
    }
    expect(problems).toEqual([]);
    // The list: each of these is on the dashboard.
    for (const wanted of [
      'ovation_http_requests_total',
      'ovation_http_request_duration_seconds_bucket',
      'ovation_seat_gate_refusals_total',
      'ovation_holds_total',
      'ovation_payments_total',
      'ovation_queue_waiting',
      'ovation_queue_active',
      'ovation_admissions_total',
      'ovation_queue_admit_per_second',
      'ovation_journey_holds_total',
      'ovation_journey_payments_total',
      'ovation_activity_duration_seconds_bucket',
      'temporal_workflow_task_schedule_to_start_latency_seconds_bucket',
      'temporal_activity_schedule_to_start_latency_seconds_bucket',
      'temporal_worker_task_slots_used',
    ]) {
      expect({ wanted, used: used.has(wanted) }).toEqual({ wanted, used: true });
    }
  });

  it('the SDK sample was taken with the exporter settings the worker uses (seconds, unit suffixes, our buckets)', async () => {
    const { sdkPrometheusExporter, LATENCY_BUCKETS_SECONDS } = await import('../../worker/metrics');
    const options = sdkPrometheusExporter('127.0.0.1:9465').prometheus;
    expect(options).toMatchObject({ useSecondsForDurations: true, unitSuffix: true });
    const sample = read('test/ops/fixtures/temporal-sdk-metrics.prom');
    const buckets = [...sample.matchAll(/^temporal_workflow_task_schedule_to_start_latency_seconds_bucket\{[^}]*le="([^"]+)"/gm)].map((m) => m[1]);
    expect(buckets.filter((le) => le !== '+Inf').map(Number)).toEqual(LATENCY_BUCKETS_SECONDS);
    expect(Object.keys(options.histogramBucketOverrides!)).toContain('workflow_task_schedule_to_start_latency');
  });

  it('the extractor finds the series of PromQL expressions, not their functions, labels or variables', () => {
    expect(selectors('histogram_quantile(0.95, sum by (le, route) (rate(ovation_http_request_duration_seconds_bucket{method="POST", route="/x"}[$__rate_interval])))')).toEqual([
      { metric: 'ovation_http_request_duration_seconds_bucket', labels: ['method', 'route'] },
    ]);
    expect(selectors('(sum(rate(a_total{status=~"5.."}[1m])) or vector(0)) / sum(rate(b_total[5m])) * 1e3').map((s) => s.metric)).toEqual(['a_total', 'b_total']);
    expect(selectors('max by (concert) (ovation_queue_waiting{concert=~"$concert"})')).toEqual([{ metric: 'ovation_queue_waiting', labels: ['concert'] }]);
  });
});

describe('Prometheus and Grafana in docker-compose.yml', () => {
  const compose = read('docker-compose.yml');
  const prometheus = read('docker/prometheus.yml');

  it('Prometheus scrapes every api replica on 3000 and every worker replica on the worker metrics port', () => {
    expect(prometheus).toMatch(/job_name: api[\s\S]*?names: \[api\][\s\S]*?port: 3000/);
    expect(prometheus).toMatch(/job_name: worker[\s\S]*?names: \[worker\][\s\S]*?port: 9464/);
    expect(read('worker/main.ts')).toContain('WORKER_METRICS_PORT ?? 9464');
  });

  it('mounts the Prometheus config, the Grafana provisioning and the dashboard where the provisioning looks', () => {
    expect(compose).toContain('./docker/prometheus.yml:/etc/prometheus/prometheus.yml:ro');
    expect(compose).toContain('./docker/grafana/provisioning:/etc/grafana/provisioning:ro');
    expect(compose).toContain('./docker/grafana/dashboards:/etc/grafana/dashboards:ro');
    expect(read('docker/grafana/provisioning/dashboards/ovation.yml')).toMatch(/path: \/etc\/grafana\/dashboards/);
    expect(read('docker/grafana/provisioning/datasources/prometheus.yml')).toContain('url: http://prometheus:9090');
    expect(compose).toMatch(/image: prom\/prometheus:v\d+\.\d+\.\d+/);
    expect(compose).toMatch(/image: grafana\/grafana:\d+\.\d+\.\d+/);
  });
});
