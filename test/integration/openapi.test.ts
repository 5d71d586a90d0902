import { execFile } from 'node:child_process';
import { ROOT } from '../support/paths';
import { startStack, type Stack } from '../support/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({}, { worker: false });
});
afterAll(async () => {
  await stack?.stop();
});

interface SchemaVerdict {
  valid: boolean;
  version?: string;
  errors?: unknown;
}

/**
 * `@seriousme/openapi-schema-validator` is ESM only and jest runs this file as CommonJS without
 * `--experimental-vm-modules`, so the validator runs in a plain Node child process: the spec goes in
 * on stdin, the verdict comes back as JSON on stdout.
 */
function validateOpenApi(spec: unknown): Promise<SchemaVerdict> {
  const script = `
    import { Validator } from '@seriousme/openapi-schema-validator';
    let input = '';
    for await (const chunk of process.stdin) input += chunk;
    const validator = new Validator();
    const result = await validator.validate(JSON.parse(input));
    process.stdout.write(JSON.stringify({ valid: result.valid, version: validator.version, errors: result.errors }));
  `;
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT }, (err, stdout, stderr) => {
      if (err) reject(new Error(`validator failed: ${err.message}\n${stderr}`));
      else resolve(JSON.parse(stdout) as SchemaVerdict);
    });
    child.stdin!.end(JSON.stringify(spec));
  });
}

type Operation = { responses?: Record<string, { content?: Record<string, unknown> }> };
type Spec = { openapi: string; paths: Record<string, Record<string, Operation>> };

async function fetchSpec(): Promise<Spec> {
  const res = await stack.api.call<Spec>('GET', '/openapi.json');
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  return res.body;
}

/** Every operation of API.md, as `METHOD path` in OpenAPI's path-template form. */
const CONTRACT_OPERATIONS = [
  'POST /users',
  'GET /wallet',
  'POST /wallet/charges',
  'GET /wallet/transactions',
  'GET /concerts',
  'GET /concerts/{concertId}/schedules',
  'POST /concerts/{concertId}/queue-tokens',
  'GET /queue-tokens/current',
  'DELETE /queue-tokens/current',
  'GET /schedules/{scheduleId}/seats',
  'POST /reservations',
  'GET /reservations',
  'GET /reservations/{reservationId}',
  'DELETE /reservations/{reservationId}',
  'POST /payments',
  'POST /admin/concerts',
  'GET /admin/concerts/{concertId}/queue',
  'PUT /admin/concerts/{concertId}/queue',
  'GET /healthz',
  'GET /readyz',
];

const HTTP_METHODS = new Set(['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace']);

function operationsOf(spec: Spec): Array<{ name: string; operation: Operation }> {
  return Object.entries(spec.paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => HTTP_METHODS.has(method))
      .map(([method, operation]) => ({ name: `${method.toUpperCase()} ${path}`, operation })),
  );
}

describe('the OpenAPI document at /openapi.json', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    const spec = await fetchSpec();
    expect(spec.openapi).toMatch(/^3\.1\./);
    const verdict = await validateOpenApi(spec);
    expect(verdict.errors).toBeUndefined();
    expect(verdict).toMatchObject({ valid: true, version: '3.1' });
  });

  it('documents every operation of the HTTP contract', async () => {
    const documented = operationsOf(await fetchSpec()).map((op) => op.name);
    const missing = CONTRACT_OPERATIONS.filter((op) => !documented.includes(op));
    expect(missing).toEqual([]);
  });

  it('documents a problem+json error answer for every operation except the liveness probe', async () => {
    const withoutProblem = operationsOf(await fetchSpec())
      .filter(({ name }) => name !== 'GET /healthz')
      .filter(({ operation }) =>
        !Object.entries(operation.responses ?? {}).some(
          ([status, response]) => /^[45]\d\d$/.test(status) && response.content?.['application/problem+json'] !== undefined,
        ),
      )
      .map(({ name }) => name);
    expect(withoutProblem).toEqual([]);
  });
});

describe('the Swagger UI at /docs', () => {
  it('is an HTML page that loads the Swagger UI bundle from this server', async () => {
    const page = await stack.api.call<string>('GET', '/docs');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.body).toContain('src="/docs/swagger-ui-bundle.js"');
    expect(page.body).toContain('/openapi.json');
  });

  it('works offline: the page references no other host', async () => {
    const page = await stack.api.call<string>('GET', '/docs');
    const references = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    expect(references.length).toBeGreaterThan(0);
    expect(references.filter((url) => !url.startsWith('/'))).toEqual([]);
    expect(page.body).not.toMatch(/https?:\/\/|unpkg|jsdelivr|cdnjs/);
  });

  it('serves the Swagger UI bundle as JavaScript', async () => {
    const bundle = await stack.api.call<string>('GET', '/docs/swagger-ui-bundle.js');
    expect(bundle.status).toBe(200);
    expect(bundle.headers.get('content-type')).toMatch(/javascript/);
    expect(bundle.body).toContain('SwaggerUIBundle');
  });

  it('serves every asset the page references', async () => {
    const page = await stack.api.call<string>('GET', '/docs');
    const references = [...page.body.matchAll(/(?:src|href)="(\/[^"]+)"/g)].map((m) => m[1]);
    const statuses = await Promise.all(references.map(async (url) => `${url} ${(await stack.api.call('GET', url)).status}`));
    expect(statuses).toEqual(references.map((url) => `${url} 200`));
  });
});
