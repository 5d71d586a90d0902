import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Config } from '../../lib/config';
import type { AppEnv } from '../../api/deps';
import { eventually } from './eventually';

export interface Answer<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

/** A response as a client reads it: status, JSON body (or the raw text when it is not JSON), headers. */
export async function readAnswer<T = any>(res: Response): Promise<Answer<T>> {
  return { status: res.status, body: answerBody<T>(await res.text()), headers: res.headers };
}

/** A response body: its JSON, or the text when it is not JSON, or undefined when empty. */
export function answerBody<T = any>(text: string): T {
  try {
    return (text ? JSON.parse(text) : undefined) as T;
  } catch {
    return text as T; // not JSON: keep the text
  }
}

export interface Fan {
  userId: string;
  accessToken: string;
}

/** The app in-process (`app.request()`) or a real API process over HTTP (see processes.ts `overHttp`). */
export type Requester = Pick<OpenAPIHono<AppEnv>, 'request'> | { request(path: string, init?: RequestInit): Promise<Response> };

export class ApiClient {
  constructor(
    readonly app: Requester,
    readonly config: Config,
  ) {}

  async call<T = any>(
    method: string,
    path: string,
    opts: { body?: unknown; rawBody?: string; fan?: Fan; queueToken?: string; admin?: boolean; headers?: Record<string, string> } = {},
  ): Promise<Answer<T>> {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.body !== undefined || opts.rawBody !== undefined) headers['content-type'] ??= 'application/json';
    if (opts.fan) headers.authorization = `Bearer ${opts.fan.accessToken}`;
    if (opts.queueToken) headers['x-queue-token'] = opts.queueToken;
    if (opts.admin) headers['x-admin-key'] = this.config.ADMIN_API_KEY;
    const res = await this.app.request(path, {
      method,
      headers,
      body: opts.rawBody ?? (opts.body !== undefined ? JSON.stringify(opts.body) : undefined),
    });
    return readAnswer<T>(res);
  }

  async newFan(name = 'Fan'): Promise<Fan> {
    const res = await this.call('POST', '/users', { body: { name } });
    if (res.status !== 201) throw new Error(`POST /users: ${res.status} ${JSON.stringify(res.body)}`);
    return { userId: res.body.userId, accessToken: res.body.accessToken };
  }

  async createConcert(seatCount = 10, price = 50_000, schedules = 1): Promise<{ concertId: string; scheduleIds: string[] }> {
    const startsAt = new Date(Date.now() + 7 * 24 * 3600_000).toISOString();
    const res = await this.call('POST', '/admin/concerts', {
      admin: true,
      body: { title: 'Test concert', schedules: Array.from({ length: schedules }, () => ({ startsAt, seatCount, price })) },
    });
    if (res.status !== 201) throw new Error(`POST /admin/concerts: ${res.status} ${JSON.stringify(res.body)}`);
    return { concertId: res.body.concertId, scheduleIds: res.body.schedules.map((s: { scheduleId: string }) => s.scheduleId) };
  }

  async join(fan: Fan, concertId: string): Promise<string> {
    const res = await this.call('POST', `/concerts/${concertId}/queue-tokens`, { fan });
    if (res.status !== 201 && res.status !== 200) throw new Error(`join: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body.token;
  }

  async tokenStatus(fan: Fan, queueToken: string): Promise<Answer> {
    return this.call('GET', '/queue-tokens/current', { fan, queueToken });
  }

  /** Joins and waits (by polling the status, as a client does) until the controller admits the fan. */
  async admittedFan(concertId: string, name = 'Fan'): Promise<{ fan: Fan; queueToken: string }> {
    const fan = await this.newFan(name);
    const queueToken = await this.join(fan, concertId);
    await eventually(async () => {
      const res = await this.tokenStatus(fan, queueToken);
      if (res.body.status !== 'ACTIVE') throw new Error(`still ${res.body.status}`);
    });
    return { fan, queueToken };
  }

  async charge(fan: Fan, amount: number): Promise<void> {
    const res = await this.call('POST', '/wallet/charges', { fan, body: { amount } });
    if (res.status !== 201) throw new Error(`charge: ${res.status} ${JSON.stringify(res.body)}`);
  }

  hold(fan: Fan, queueToken: string, scheduleId: string, seatNumber: number, headers?: Record<string, string>) {
    return this.call('POST', '/reservations', { fan, queueToken, body: { scheduleId, seatNumber }, headers });
  }

  pay(fan: Fan, queueToken: string, reservationId: string, headers?: Record<string, string>) {
    return this.call('POST', '/payments', { fan, queueToken, body: { reservationId }, headers });
  }
}
