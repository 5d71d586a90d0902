/** A small HTTP client of the Ovation API over fetch, for setup and for per-request loads. */

import { readAnswer, type Answer } from '../../test/support/api-client';

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

/** A load's outcome of one answer: the status, with the problem's code when it is an error. */
export function outcome(answer: Answer): number | string {
  if (answer.status < 400) return answer.status;
  const code = (answer.body as { code?: string } | undefined)?.code;
  return code ? `${answer.status} ${code}` : answer.status;
}
