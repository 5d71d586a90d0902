/**
 * The production shape of Temporal on this machine: the real server (frontend, history, matching and
 * worker services in one process) on PostgreSQL, for its default store and its SQL visibility, as
 * docker-compose.yml runs it — not the CLI's dev server on SQLite. `scripts/provision-temporal-server.sh`
 * builds the binaries; this module sets up the schema with the server's own SQL tool, writes the
 * config, starts the server, and registers the namespace and Ovation's search attributes.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { Client } from 'pg';
import { AFTER_SALE_SEARCH_ATTRIBUTE_TYPES, SEARCH_ATTRIBUTE_TYPES } from '../workflows/definitions';
import { DATA_DIR, dynamicConfigValues, temporalCli, TOOLS_DIR } from './temporal-dev-server';

export const TEMPORAL_SERVER_VERSION = 'v1.29.1';
const SERVER = join(TOOLS_DIR, 'bin', 'temporal-server');
const SQL_TOOL = join(TOOLS_DIR, 'bin', 'temporal-sql-tool');
const SCHEMA_DIR = join(TOOLS_DIR, 'temporal-server-schema');

export interface TemporalServerOptions {
  /** Names the data folder and the two databases (`<name>`, `<name>_visibility`). */
  name: string;
  /** A PostgreSQL URL whose role may create databases; its database part is ignored. */
  databaseUrl: string;
  /** gRPC port of the frontend; the other services take the next ports (frontend + 1 … + 13). */
  frontendPort: number;
  namespace?: string;
}

export interface TemporalServer {
  address: string;
  namespace: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** Creates both databases if missing and brings their schema to the server's version (idempotent). */
export async function setupTemporalSchema(databaseUrl: string, name: string): Promise<void> {
  const url = new URL(databaseUrl);
  const admin = new Client({ connectionString: databaseUrl.replace(/\/[^/?]*(\?|$)/, '/postgres$1') });
  await admin.connect();
  try {
    for (const database of [name, `${name}_visibility`]) {
      const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
      // Identifiers cannot be parameters; the name is ours and checked here.
      if (!/^[a-z_][a-z0-9_]*$/.test(database)) throw new Error(`unsafe database name ${database}`);
      if (!rowCount) await admin.query(`CREATE DATABASE ${database}`);
    }
  } finally {
    await admin.end();
  }
  const common = [
    '--plugin', 'postgres12', '--endpoint', url.hostname, '--port', url.port || '5432',
    '--user', decodeURIComponent(url.username), '--password', decodeURIComponent(url.password), '--quiet',
  ];
  for (const [database, dir] of [[name, 'temporal'], [`${name}_visibility`, 'visibility']] as const) {
    // setup-schema -v 0.0 creates only the version bookkeeping (a no-op when present); update-schema
    // then applies every versioned step not yet applied, as the server images' auto-setup does.
    run(SQL_TOOL, [...common, '--database', database, 'setup-schema', '--version', '0.0']);
    run(SQL_TOOL, [...common, '--database', database, 'update-schema', '--schema-dir', join(SCHEMA_DIR, dir, 'versioned')]);
  }
}

export async function startTemporalServer(options: TemporalServerOptions): Promise<TemporalServer> {
  const { name, databaseUrl, frontendPort } = options;
  const namespace = options.namespace ?? 'default';
  await setupTemporalSchema(databaseUrl, name);

  const root = join(DATA_DIR, `temporal-server-${name}`);
  mkdirSync(join(root, 'config'), { recursive: true });
  writeFileSync(join(root, 'config', 'development.yaml'), serverConfig(name, databaseUrl, frontendPort, join(root, 'dynamicconfig.yaml')));
  writeFileSync(join(root, 'dynamicconfig.yaml'), dynamicConfig());
  const log = openSync(join(root, 'server.log'), 'a');
  const proc = spawn(SERVER, ['--root', root, '--config', 'config', '--env', 'development', '--allow-no-auth', 'start'], {
    stdio: ['ignore', log, log],
  });
  const address = `127.0.0.1:${frontendPort}`;
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  };
  try {
    await waitFor(`the Temporal server on ${address} (log: ${join(root, 'server.log')})`, () => portAnswers(frontendPort), 60_000, exited);
    await registerNamespace(address, namespace);
  } catch (err) {
    await stop();
    throw err;
  }
  return { address, namespace, process: proc, stop };
}

/** The namespace and Ovation's search attributes, as the compose setup job registers them (idempotent). */
async function registerNamespace(address: string, namespace: string): Promise<void> {
  const cli = temporalCli();
  if (!cli) throw new Error('the Temporal CLI (scripts/provision.sh) registers the namespace and is missing');
  const temporal = (...args: string[]) => spawnSync(cli, [...args, '--address', address], { encoding: 'utf8' });
  // The frontend answers before its membership ring settles: retry until the namespace exists.
  await waitFor(`namespace ${namespace}`, async () => {
    if (temporal('operator', 'namespace', 'describe', '--namespace', namespace).status === 0) return true;
    temporal('operator', 'namespace', 'create', '--namespace', namespace, '--retention', '72h');
    return false;
  }, 60_000);
  // Each service learns of a new namespace on its own cache refresh: retry until the attribute is listed.
  for (const [attribute, type] of Object.entries({ ...SEARCH_ATTRIBUTE_TYPES, ...AFTER_SALE_SEARCH_ATTRIBUTE_TYPES })) {
    await waitFor(`search attribute ${attribute}`, async () => {
      if (temporal('operator', 'search-attribute', 'list', '--namespace', namespace).stdout.includes(attribute)) return true;
      temporal('operator', 'search-attribute', 'create', '--namespace', namespace, '--name', attribute, '--type', type);
      return false;
    }, 60_000);
  }
}

function serverConfig(name: string, databaseUrl: string, frontendPort: number, dynamicConfigFile: string): string {
  const url = new URL(databaseUrl);
  const store = (database: string, maxConns: number) => `
      sql:
        pluginName: postgres12
        databaseName: ${database}
        connectAddr: "${url.hostname}:${url.port || '5432'}"
        connectProtocol: tcp
        user: ${JSON.stringify(decodeURIComponent(url.username))}
        password: ${JSON.stringify(decodeURIComponent(url.password))}
        maxConns: ${maxConns}
        maxIdleConns: ${maxConns}
        maxConnLifetime: 1h`;
  const service = (grpcPort: number, membershipPort: number, extra = '') => `
    rpc:
      grpcPort: ${grpcPort}
      membershipPort: ${membershipPort}
      bindOnLocalHost: true${extra}`;
  const p = frontendPort;
  return `# Written by scripts/temporal-server.ts; edits are overwritten at the next start.
log:
  stdout: true
  level: warn
persistence:
  defaultStore: default
  visibilityStore: visibility
  numHistoryShards: 4
  datastores:
    default:${store(name, 20)}
    visibility:${store(`${name}_visibility`, 10)}
global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: 127.0.0.1
services:
  frontend:${service(p, p + 10, `\n      httpPort: ${p + 20}`)}
  history:${service(p + 1, p + 11)}
  matching:${service(p + 2, p + 12)}
  worker:${service(p + 3, p + 13)}
clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: active
  currentClusterName: active
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: frontend
      rpcAddress: 127.0.0.1:${p}
dcRedirectionPolicy:
  policy: noop
dynamicConfigClient:
  filepath: ${dynamicConfigFile}
  pollInterval: 10s
`;
}

/**
 * The same hand-off tuning as the dev server (TOOLCHAIN.md: the history service otherwise polls its
 * queues 20 times a second), and a namespace cache refreshed every second so a namespace registered
 * at start is usable at once rather than after the default 10 s.
 */
function dynamicConfig(): string {
  const entries = [...dynamicConfigValues().map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]), ['system.namespaceCacheRefreshInterval', '1s']];
  return entries.map(([key, value]) => `${key}:\n  - value: ${value}\n    constraints: {}\n`).join('');
}

function run(command: string, args: string[]): void {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.status === 0) return;
  const shown = args.map((arg, i) => (args[i - 1] === '--password' ? '***' : arg)); // never log the secret
  throw new Error(`${command} ${shown.join(' ')} failed: ${result.stderr || result.stdout}`);
}

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, timeout: 1000 });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => (socket.destroy(), resolve(false)));
  });
}

async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs: number, exited?: Promise<void>): Promise<void> {
  let gone = false;
  void exited?.then(() => (gone = true));
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (gone) throw new Error(`${what}: the process exited`);
    if (Date.now() > deadline) throw new Error(`${what} did not come up within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
