import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import fc from 'fast-check';

/**
 * Schema-driven request generation and response checking for the fuzz suite, from the API's own
 * `/openapi.json`. No maintained library turns JSON Schema into fast-check arbitraries (the one on
 * npm targets fast-check 1), so the small subset of JSON Schema the spec uses is walked here; the
 * answers are checked by Ajv against the documented response schemas.
 */

export type Schema = { [keyword: string]: any };

export interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  schema: Schema;
}

export interface ResponseObject {
  content?: Record<string, { schema: Schema }>;
  headers?: Record<string, { required?: boolean }>;
}

export interface Operation {
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content: Record<string, { schema: Schema }> };
  responses: Record<string, ResponseObject>;
  security?: Array<Record<string, string[]>>;
}

export interface Spec {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema> };
}

export interface OperationRef {
  method: string;
  path: string;
  operation: Operation;
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch'];

export function operationsOf(spec: Spec): OperationRef[] {
  return Object.entries(spec.paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => METHODS.includes(method))
      .map(([method, operation]) => ({ method: method.toUpperCase(), path, operation })),
  );
}

/** The security schemes an operation asks for (the spec lists one alternative per operation). */
export const schemesOf = (operation: Operation): string[] => Object.keys(operation.security?.[0] ?? {});

function follow(spec: Spec, schema: Schema): Schema {
  let resolved = schema;
  while (resolved.$ref) {
    const name = /^#\/components\/schemas\/(.+)$/.exec(resolved.$ref)?.[1];
    if (!name || !spec.components.schemas[name]) throw new Error(`unresolvable $ref ${resolved.$ref}`);
    resolved = spec.components.schemas[name];
  }
  return resolved;
}

/** Strings that have broken parsers, stores and renderers elsewhere; each must be stored verbatim or refused cleanly. */
export const NASTY_STRINGS = [
  '',
  ' ',
  "' OR '1'='1",
  "'; DROP TABLE users; --",
  '" OR ""="',
  '1; SELECT pg_sleep(5)',
  '<script>alert(1)</script>',
  '<img src=x onerror=alert(1)>',
  '${jndi:ldap://127.0.0.1/a}',
  '{{7*7}}',
  '#{7*7}',
  '../../../../etc/passwd',
  '..\\..\\windows\\win.ini',
  '%00',
  '%',
  '%E0%A4%A',
  '\u0000',
  'a\u0000b',
  '\uD800',
  'a\uDC00b',
  '\uFEFF',
  '\u202Eevil',
  '\u200B\u200C\u200D',
  'Z̴̡̪̫͖̥̔͊̓͌̈̕a̵̢̛͎͚̺͋l̶̡̹̩̪͗̀ğ̷̗̞̰o̸̡̥͂̉',
  '👩‍👩‍👧‍👦🏳️‍🌈',
  '김민수',
  'مرحبا',
  '\r\nX-Injected: 1',
  '*',
  '?',
  '[',
  'queue:{x}:*',
  'null',
  'undefined',
  'NaN',
  '-0',
  '1e309',
  '__proto__',
  'constructor',
  '0x7fffffff',
  '0000-01-01T00:00:00Z',
  '2000-02-30T00:00:00Z',
  '2024-01-01T23:59:60Z',
  '2024-01-01T00:00:00+23:59',
  '9999-12-31T23:59:59.999999999Z',
  '1970-01-01',
  'A'.repeat(201),
  'B'.repeat(5_001),
  '🎸'.repeat(101),
];

export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...NASTY_STRINGS) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 95, maxLength: 110 }) },
);

/** A value of the wrong kind, or a number at an edge. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  hostileString,
  fc.constantFrom(null, true, false, [], {}, -1, 0, 0.5, -0.5, 2 ** 31, 2 ** 53, -(2 ** 53), 1e308, -1e308, Number.MIN_VALUE),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.jsonValue({ maxDepth: 2 }),
);

export interface Shaping {
  /** Values that exist in the fixture (ids of real concerts, schedules, reservations), by property or parameter name. */
  hints: Record<string, fc.Arbitrary<unknown>>;
  /** Upper bounds on valid integers whose large values only cost time (seats to create), by property name. */
  caps: Record<string, number>;
  /** Walk hostile: any node may be replaced by a hostile value, required properties dropped, strangers added. */
  hostile: boolean;
}

/** A value for `schema`: valid-ish from the schema and the hints, or, when `shaping.hostile`, mutated anywhere. */
export function valueFor(spec: Spec, schema: Schema, shaping: Shaping, name?: string): fc.Arbitrary<unknown> {
  const fromSchema = schemaValue(spec, follow(spec, schema), shaping, name);
  const hint = name !== undefined ? shaping.hints[name] : undefined;
  const value = hint ? fc.oneof({ weight: 4, arbitrary: hint }, { weight: 1, arbitrary: fromSchema }) : fromSchema;
  return shaping.hostile ? fc.oneof({ weight: 6, arbitrary: value }, { weight: 1, arbitrary: hostileValue }) : value;
}

function schemaValue(spec: Spec, schema: Schema, shaping: Shaping, name?: string): fc.Arbitrary<unknown> {
  if (schema.enum) return fc.constantFrom(...(schema.enum as unknown[]));
  switch (schema.type) {
    case 'object': {
      const properties = Object.fromEntries(
        Object.entries((schema.properties ?? {}) as Record<string, Schema>).map(([key, sub]) => [key, valueFor(spec, sub, shaping, key)]),
      );
      const required = (schema.required ?? []) as string[];
      const complete = fc.record(properties, { requiredKeys: required });
      if (!shaping.hostile) return complete;
      const strangers = fc.dictionary(fc.oneof(fc.constantFrom('__proto__', 'constructor', 'prototype', 'userId', 'status', 'isAdmin'), fc.string()), hostileValue, { maxKeys: 3 });
      return fc.oneof(
        { weight: 4, arbitrary: complete },
        { weight: 1, arbitrary: fc.record(properties, { requiredKeys: [] }) },
        { weight: 1, arbitrary: fc.tuple(complete, strangers).map(([value, extra]) => ({ ...extra, ...(value as object) })) },
      );
    }
    case 'array': {
      const maxLength = Math.min(schema.maxItems ?? 3, 3);
      return fc.array(valueFor(spec, schema.items ?? {}, shaping), { minLength: Math.min(schema.minItems ?? 0, maxLength), maxLength });
    }
    case 'integer':
    case 'number': {
      const cap = name !== undefined ? shaping.caps[name] : undefined;
      const min = schema.minimum ?? (schema.exclusiveMinimum !== undefined ? schema.exclusiveMinimum : -1e9);
      const max = Math.min(schema.maximum ?? 1e9, cap ?? Infinity);
      if (schema.type === 'integer') return fc.integer({ min: Math.ceil(min), max: Math.floor(max) }).filter((n) => schema.exclusiveMinimum === undefined || n > schema.exclusiveMinimum);
      return fc.double({ min, max, noNaN: true, noDefaultInfinity: true }).filter((n) => schema.exclusiveMinimum === undefined || n > schema.exclusiveMinimum);
    }
    case 'boolean':
      return fc.boolean();
    case 'string': {
      if (schema.format === 'uuid') return fc.uuid();
      if (schema.format === 'date-time') {
        // Every instant RFC 3339 can write, years 0000 to 9999, the near future most often.
        const near = fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true });
        const any = fc.date({ min: new Date('0000-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true });
        const edges = fc.constantFrom('0000-01-01T00:00:00Z', '0001-01-01T00:00:00Z', '1970-01-01T00:00:00Z', '9999-12-31T23:59:59.999999999Z', '2038-01-19T03:14:08+14:00');
        return fc.oneof({ weight: 6, arbitrary: near.map((d) => d.toISOString()) }, { weight: 2, arbitrary: any.map((d) => d.toISOString()) }, { weight: 1, arbitrary: edges });
      }
      if (schema.pattern) return fc.stringMatching(new RegExp(schema.pattern));
      // Graphemes (emoji, combining marks, scripts): what a name or a title really holds.
      return fc.string({ unit: 'grapheme', minLength: schema.minLength ?? 0, maxLength: Math.min(schema.maxLength ?? 40, 40) });
    }
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

/** A body as raw text: the shapes a JSON parser, a size limit and a validator must each refuse cleanly. */
export function rawBody(valid: fc.Arbitrary<unknown>): fc.Arbitrary<string | Uint8Array> {
  return fc.oneof(
    valid.map((v) => JSON.stringify(v).slice(0, -1)), // truncated
    valid.map((v) => `\uFEFF${JSON.stringify(v)}`), // byte-order mark
    fc.json({ maxDepth: 3 }), // well-formed JSON of the wrong shape
    fc.string({ unit: 'binary', maxLength: 80 }), // not JSON at all
    fc.integer({ min: 500, max: 20_000 }).map((n) => '['.repeat(n) + ']'.repeat(n)), // deep arrays
    fc.integer({ min: 500, max: 10_000 }).map((n) => '{"a":'.repeat(n) + '1' + '}'.repeat(n)), // deep objects
    fc.constant(JSON.stringify({ name: 'x'.repeat(70_000), title: 'x', amount: 1 })), // over the 64 KiB limit
    fc.constant('{"amount": 1' + '0'.repeat(400) + ', "seatNumber": 1e400, "name": "x"}'), // numbers beyond double
    fc.constant('{"amount": 1000, "amount": "1000", "name": "a", "name": 7}'), // duplicate keys
    fc.constant('{"__proto__": {"isAdmin": true, "status": "CONFIRMED"}, "constructor": {"prototype": {"x": 1}}}'),
    fc.constant(''),
    fc.constant('null'),
    fc.uint8Array({ minLength: 1, maxLength: 40 }), // bytes that need not be UTF-8
  );
}

export type ResponseCheck = (op: OperationRef, status: number, headers: Headers, body: unknown) => string[];

/**
 * Checks an answer against the operation's documented responses: the status is one of them, the
 * media type is the documented one, required headers are present and the body validates against
 * the schema (Ajv, JSON Schema 2020-12 as OpenAPI 3.1 uses it, formats included).
 */
export function responseChecker(spec: Spec): ResponseCheck {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema({ $id: 'openapi', components: spec.components });
  const validators = new Map<string, ValidateFunction>();
  const validatorFor = (schema: Schema): ValidateFunction => {
    const key = JSON.stringify(schema);
    let validate = validators.get(key);
    if (!validate) {
      // Refs point into the document (`#/components/...`): anchor them to the registered copy.
      const anchored = JSON.parse(key.replace(/"#\/components\//g, '"openapi#/components/')) as Schema;
      validators.set(key, (validate = ajv.compile(anchored)));
    }
    return validate;
  };

  return (op, status, headers, body) => {
    const documented = op.operation.responses[String(status)] ?? op.operation.responses.default;
    if (!documented) return [`status ${status} is not documented for ${op.method} ${op.path} (documented: ${Object.keys(op.operation.responses).join(', ')})`];
    const violations: string[] = [];
    for (const [header, spec] of Object.entries(documented.headers ?? {})) {
      if (spec.required && headers.get(header) === null) violations.push(`required header ${header} is missing`);
    }
    const mediaType = (headers.get('content-type') ?? '').split(';')[0].trim();
    const content = documented.content?.[mediaType];
    if (!content) {
      violations.push(`content type "${mediaType}" is not documented for ${status} (documented: ${Object.keys(documented.content ?? {}).join(', ') || 'none'})`);
      return violations;
    }
    const validate = validatorFor(content.schema);
    if (!validate(body)) violations.push(`body does not match the ${status} schema: ${ajv.errorsText(validate.errors)}`);
    return violations;
  };
}
