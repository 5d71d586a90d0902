import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { Client as PgClient } from 'pg';
import { devServerExtraArgs } from '../../scripts/temporal-dev-server';
import { eventually } from './eventually';
import { devServerExecutable } from './paths';
import { freePort } from './processes';

/**
 * PostgreSQL, Redis and a Temporal dev server of the outage suite's own, each a child process on a
 * free port with its data in a temporary directory: the suite stops and restarts them while traffic
 * runs, which it must never do to the services other suites share. A restart keeps the port and the
 * data, as a real restart of the dependency would.
 */
export type DependencyName = 'postgres' | 'redis' | 'temporal';

export interface PrivateService {
  readonly name: DependencyName;
  /** Stops the service abruptly, as a crash would (no graceful shutdown), and waits until it is gone. */
  stop(): Promise<void>;
  /** Starts it again on the same port over the same data, and waits until it answers. */
  start(): Promise<void>;
  /** Stops it for good and deletes its data. */
  destroy(): Promise<void>;
}

const live = new Set<ChildProcess>();
// A jest worker that dies without its afterAll must not leave servers behind on the shared box.
process.once('exit', () => live.forEach((child) => child.kill('SIGKILL')));

/** One server process, started again and again with the same command. */
abstract class ChildService implements PrivateService {
  private child?: ChildProcess;
  private output = '';

  protected constructor(
    readonly name: DependencyName,
    readonly dir: string,
    readonly port: number,
  ) {}

  protected abstract command(): { file: string; args: string[]; uid?: number; gid?: number };
  protected abstract answers(): Promise<void>;
  /** How the service is stopped: the signal that ends it without any clean-up of its own. */
  protected abstract readonly crashSignal: NodeJS.Signals;

  get log(): string {
    return this.output;
  }

  async start(): Promise<void> {
    if (this.child) throw new Error(`${this.name} is already running`);
    const { file, args, uid, gid } = this.command();
    this.output = '';
    const child = spawn(file, args, { cwd: this.dir, uid, gid, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (chunk: Buffer) => (this.output = (this.output + chunk).slice(-20_000));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    child.once('exit', () => live.delete(child));
    live.add(child);
    this.child = child;
    await eventually(
      async () => {
        if (child.exitCode !== null) throw new Error(`${this.name} exited with ${child.exitCode}:\n${this.output.slice(-3000)}`);
        await this.answers();
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill(this.crashSignal);
      await exited;
    }
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** PostgreSQL refuses to run as root: as root, its processes run as the `postgres` system user. */
function postgresUser(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

/** The newest installed server binary, as scripts/provision.sh finds it, else the one on PATH. */
function postgresBinary(name: string): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  const found = versions.map((v) => join(root, v, 'bin', name)).find((path) => existsSync(path));
  return found ?? name;
}

export class PrivatePostgres extends ChildService {
  protected readonly crashSignal = 'SIGQUIT'; // "immediate" shutdown: no checkpoint, crash recovery at the next start
  private readonly user = postgresUser();

  private constructor(dir: string, port: number) {
    super('postgres', dir, port);
  }

  /** initdb (a few seconds: once per test file), start, and an empty `ovation` database. */
  static async create(): Promise<PrivatePostgres> {
    const dir = mkdtempSync(join(tmpdir(), 'ovation-chaos-pg-'));
    const service = new PrivatePostgres(dir, await freePort());
    if (service.user.uid !== undefined) chownSync(dir, service.user.uid, service.user.gid!);
    execFileSync(postgresBinary('initdb'), ['-D', service.dataDir, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C.UTF-8', '--no-sync'], {
      cwd: dir,
      ...service.user,
      stdio: 'pipe',
    });
    await service.start();
    await service.query('CREATE DATABASE ovation');
    return service;
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/ovation`;
  }

  private get dataDir(): string {
    return join(this.dir, 'data');
  }

  protected command() {
    return {
      file: postgresBinary('postgres'),
      // fsync off: the data is thrown away after the file; a crash of the process loses nothing anyway.
      args: ['-D', this.dataDir, '-p', String(this.port), '-k', this.dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'max_connections=200'],
      ...this.user,
    };
  }

  protected async answers(): Promise<void> {
    await this.query('SELECT 1');
  }

  private async query(sql: string): Promise<void> {
    const client = new PgClient({ host: '127.0.0.1', port: this.port, user: 'postgres', database: 'postgres', connectionTimeoutMillis: 2000 });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  }
}

export class PrivateRedis extends ChildService {
  protected readonly crashSignal = 'SIGKILL';

  private constructor(dir: string, port: number) {
    super('redis', dir, port);
  }

  /**
   * With the persistence production runs with (docker-compose.yml, scripts/provision.sh): the
   * append-only file, fsync once a second. A restart reloads it.
   */
  static async create(): Promise<PrivateRedis> {
    const service = new PrivateRedis(mkdtempSync(join(tmpdir(), 'ovation-chaos-redis-')), await freePort());
    await service.start();
    return service;
  }

  url(db = 0): string {
    return `redis://127.0.0.1:${this.port}/${db}`;
  }

  protected command() {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', ''];
    return { file: 'redis-server', args };
  }

  protected async answers(): Promise<void> {
    // Logged once the append-only file is loaded: earlier commands would answer LOADING.
    if (!/Ready to accept connections/.test(this.log)) throw new Error('Redis is not ready yet');
  }
}

export class PrivateTemporal extends ChildService {
  protected readonly crashSignal = 'SIGKILL';

  private constructor(dir: string, port: number) {
    super('temporal', dir, port);
  }

  /**
   * A dev server over a SQLite file (as `npm start` runs it), so its workflows survive a restart;
   * in memory they would be lost with the process.
   */
  static async create(): Promise<PrivateTemporal> {
    const service = new PrivateTemporal(mkdtempSync(join(tmpdir(), 'ovation-chaos-temporal-')), await freePort());
    await service.start();
    return service;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  protected command() {
    const cli = devServerExecutable()?.path;
    if (!cli) throw new Error('no Temporal CLI in .tools/bin: run `bash scripts/provision.sh --test`');
    const args = [
      'server', 'start-dev', '--headless', '--ip', '127.0.0.1', '--port', String(this.port),
      '--db-filename', join(this.dir, 'temporal.db'),
      '--sqlite-pragma', 'journal_mode=wal', '--sqlite-pragma', 'synchronous=normal',
      ...devServerExtraArgs(),
    ];
    return { file: cli, args };
  }

  protected async answers(): Promise<void> {
    const connection = await Connection.connect({ address: this.address, connectTimeout: 1000 });
    try {
      await connection.workflowService.describeNamespace({ namespace: 'default' });
    } finally {
      await connection.close();
    }
  }
}
