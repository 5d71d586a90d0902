/**
 * Figures over time as SVG files next to the report: vega-lite specs compiled to vega and rendered
 * headless with `view.toSVG()` (no browser, no canvas). vega and vega-lite are ES modules only,
 * hence the dynamic imports from this CommonJS project.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Series {
  name: string;
  /** [seconds since the start, value]; NaN values are left out. */
  points: Array<[number, number]>;
}

export interface Plot {
  /** File name part: `<report>-<name>.svg`. */
  name: string;
  title: string;
  spec: Record<string, unknown>;
}

/** Lines over time, one per series, with an optional marker: a level (a budget, a target) or a moment. */
export function linePlot(
  name: string,
  title: string,
  opts: { yTitle: string; series: Series[]; log?: boolean; marker?: { y: number; label: string } | { x: number; label: string }; xTitle?: string },
): Plot {
  const values = opts.series.flatMap((s) => s.points.filter(([, y]) => Number.isFinite(y) && (!opts.log || y > 0)).map(([t, y]) => ({ t, y, series: s.name })));
  const lines = {
    mark: { type: 'line', interpolate: 'step-after', strokeWidth: 1.5 },
    encoding: {
      x: { field: 't', type: 'quantitative', title: opts.xTitle ?? 'seconds since the start' },
      y: { field: 'y', type: 'quantitative', title: opts.yTitle, scale: opts.log ? { type: 'log' } : { zero: true } },
      color: { field: 'series', type: 'nominal', title: null, sort: opts.series.map((s) => s.name), legend: { labelLimit: 320 } },
    },
  };
  const axis = opts.marker && ('x' in opts.marker ? 'x' : 'y');
  const marker = opts.marker && {
    data: { values: [opts.marker] },
    layer: [
      { mark: { type: 'rule', strokeDash: [4, 4], color: '#888' }, encoding: { [axis!]: { field: axis, type: 'quantitative' } } },
      {
        mark: { type: 'text', align: 'left', dx: 4, dy: -6, color: '#666' },
        encoding: { [axis!]: { field: axis, type: 'quantitative' }, [axis === 'x' ? 'y' : 'x']: { value: axis === 'x' ? 10 : 0 }, text: { field: 'label' } },
      },
    ],
  };
  return {
    name,
    title,
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title,
      width: 720,
      height: 240,
      data: { values },
      layer: marker ? [lines, marker] : [lines],
    },
  };
}

export async function renderSvg(plot: Plot): Promise<string> {
  const vega = await import('vega');
  const vegaLite = await import('vega-lite');
  const view = new vega.View(vega.parse(vegaLite.compile(plot.spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Writes each plot as `<base>-<name>.svg` in `dir`; returns the file names, in order. */
export async function writePlots(plots: Plot[], dir: string, base: string): Promise<string[]> {
  const files: string[] = [];
  for (const plot of plots) {
    const file = `${base}-${plot.name}.svg`;
    writeFileSync(join(dir, file), await renderSvg(plot));
    files.push(file);
  }
  return files;
}
