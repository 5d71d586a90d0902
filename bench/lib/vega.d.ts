// The part of vega 6 and vega-lite 6 the bench uses. Both ship types, but only behind `exports`,
// which this project's `moduleResolution: node` does not read.
declare module 'vega' {
  type Spec = Record<string, unknown>;
  export function parse(spec: Spec): unknown;
  export class View {
    constructor(runtime: unknown, options?: { renderer?: 'none' | 'svg' | 'canvas' });
    toSVG(scaleFactor?: number): Promise<string>;
    finalize(): this;
  }
}

declare module 'vega-lite' {
  export function compile(spec: Record<string, unknown>): { spec: Record<string, unknown> };
}
