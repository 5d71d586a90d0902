/** A small HTTP client of the Ovation API over fetch, for setup and for per-request loads. */

import { answerBody, readAnswer, type Answer } from '../../test/support/api-client';
import { RawPool } from './raw-http';

export type { Answer };

export interface User {
  userId: string;
  accessToken: string;
}

export interface CallOptions {
  user?: User;
  queueToken?: string;
  admin?: boolean;
  body?: unknown;
  timeoutMs?: number;
}

export class Api {
  constructor(
    readonly base: string,
    readonly adminKey: string,
  ) {}

  headers(opts: Omit<CallOptions, 'body' | 'timeoutMs'> & { json?: boolean }): Record<string, string> {
    const headers: Record<string, string> = {};
    if (opts.json) headers['content-type'] = 'application/json';
    if (opts.user) headers.authorization = `Bearer ${opts.user.accessToken}`;
    if (opts.queueToken) headers['x-queue-token'] = opts.queueToken;
    if (opts.admin) headers['x-admin-key'] = this.adminKey;
    return headers;
  }

  async call<T = any>(method: string, path: string, opts: CallOptions = {}): Promise<Answer<T>> {
    const res = await fetch(this.base + path, {
      method,
      headers: this.headers({ ...opts, json: opts.body !== undefined }),
      body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
      signal: AbortSignal.timeout(opts.timeoutMs ?? 60_000),
    });
    return readAnswer<T>(res);
  }

  /**
   * Requests over raw keep-alive connections, for a closed loop's measured calls: fetch costs the
   * generator 1–2 ms of CPU a request (undici's Request, Headers, streams, an AbortSignal timer), and
   * the generator shares the box with the API, the worker and Temporal that a hold or payment is
   * measured on, while the raw shapes it is compared with are driven by a lean Temporal client.
   */
  keepAlive(): KeepAliveClient {
    return new KeepAliveClient(this);
  }

  /** `call`, but anything other than `expected` is an error naming the request. */
  async must<T = any>(expected: number | number[], method: string, path: string, opts: CallOptions = {}): Promise<T> {
    const res = await this.call<T>(method, path, opts);
    if (!([] as number[]).concat(expected).includes(res.status)) {
      throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
    }
    return res.body;
  }

  createUser(name: string): Promise<User> {
    return this.must(201, 'POST', '/users', { body: { name } });
  }

  async createConcert(title: string, schedules: Array<{ seatCount: number; price: number }>): Promise<{ concertId: string; scheduleIds: string[] }> {
    const startsAt = new Date(Date.now() + 30 * 24 * 3600_000).toISOString();
    const body = await this.must(201, 'POST', '/admin/concerts', {
      admin: true,
      body: { title, schedules: schedules.map((s) => ({ startsAt, ...s })) },
    });
    return { concertId: body.concertId, scheduleIds: body.schedules.map((s: { scheduleId: string }) => s.scheduleId) };
  }

  setQueue(concertId: string, patch: { paused?: boolean; admitPerSecond?: number; maxActive?: number }) {
    return this.must(200, 'PUT', `/admin/concerts/${concertId}/queue`, { admin: true, body: patch });
  }

  /** The queue token (new or live). */
  async join(user: User, concertId: string): Promise<{ token: string; status: string; position: number }> {
    return this.must([200, 201], 'POST', `/concerts/${concertId}/queue-tokens`, { user });
  }
}

/** A status and a parsed JSON body (or the text), as `call` answers without the headers. */
export type BareAnswer<T = any> = Pick<Answer<T>, 'status' | 'body'>;

/** An answer slower than this fails the request (the connection is dropped), as `call`'s timeout does. */
const KEEP_ALIVE_TIMEOUT_MS = 60_000;

/** `Api.call` over a pool of raw keep-alive connections (bench/lib/raw-http.ts). */
export class KeepAliveClient {
  private readonly pool: RawPool;

  constructor(private readonly api: Api) {
    this.pool = new RawPool(api.base, KEEP_ALIVE_TIMEOUT_MS);
  }

  async call<T = any>(method: string, path: string, opts: Omit<CallOptions, 'timeoutMs'> = {}): Promise<BareAnswer<T>> {
    const body = opts.body !== undefined ? JSON.stringify(opts.body) : undefined;
    const answer = await this.pool.request(method, path, this.api.headers({ ...opts, json: body !== undefined }), body);
    return { status: answer.status, body: answerBody<T>(answer.body) };
  }

  close(): void {
    this.pool.destroy();
  }
}

/** A load's outcome of one answer: the status, with the problem's code when it is an error. */
export function outcome(answer: BareAnswer): number | string {
  if (answer.status < 400) return answer.status;
  const code = (answer.body as { code?: string } | undefined)?.code;
  return code ? `${answer.status} ${code}` : answer.status;
}
