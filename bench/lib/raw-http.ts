/**
 * HTTP/1.1 over raw keep-alive sockets, for load generators: a request costs one small encode (none
 * when prepared before the measured window), one `write` and one small parse.
 * - The contested seat's burst: node's fetch cost ~0.9 ms of generator CPU per request (undici's
 *   Request, Headers, streams and an AbortSignal timer each); with 1,000 requests on a 2-core box that
 *   alone would take most of a 300 ms budget from the API under test.
 * - A rotation of requests (many fans' polls or joins, `httpLoad`): autocannon re-encodes a rotated
 *   request on every send (its `setupRequest`), ~50 µs of generator CPU each, a fifth of what a poll
 *   costs the whole box.
 * - The hold and pay loads (`Api.keepAlive()`): fetch cost 1.3–2.2 ms of generator CPU per request,
 *   on the cores the payment it measures runs on.
 */
import { connect, type Socket } from 'node:net';

export interface RawAnswer {
  status: number;
  body: string;
  /** The status line and headers, for a caller that needs one (`headerOf`). */
  head: string;
}

/** A header's value in a response's head (names are case-insensitive), or undefined. */
export function headerOf(answer: RawAnswer, name: string): string | undefined {
  const at = answer.head.toLowerCase().indexOf(`\r\n${name.toLowerCase()}:`);
  if (at < 0) return undefined;
  const end = answer.head.indexOf('\r\n', at + 2);
  return answer.head.slice(at + name.length + 3, end < 0 ? undefined : end).trim();
}

/** A response read off a socket: status line, headers up to the blank line, a Content-Length body (or a chunked one). */
class ResponseReader {
  private buffered: Buffer = Buffer.alloc(0);

  /** Appends bytes; returns the complete response once it is in, else null. */
  push(chunk: Buffer): RawAnswer | null {
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
    const end = this.buffered.indexOf('\r\n\r\n');
    if (end < 0) return null;
    const head = this.buffered.subarray(0, end).toString('latin1');
    const status = Number(head.slice(9, 12));
    const length = /\r\ncontent-length: *(\d+)/i.exec(head);
    const rest = this.buffered.subarray(end + 4);
    if (length) {
      const n = Number(length[1]);
      if (rest.length < n) return null;
      this.buffered = rest.subarray(n);
      return { status, body: rest.subarray(0, n).toString('utf8'), head };
    }
    if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
      const last = rest.indexOf('0\r\n\r\n');
      if (last < 0) return null;
      this.buffered = rest.subarray(last + 5);
      return { status, body: dechunk(rest.subarray(0, last)), head };
    }
    this.buffered = rest;
    return { status, body: '', head };
  }
}

function dechunk(raw: Buffer): string {
  const parts: Buffer[] = [];
  let at = 0;
  while (at < raw.length) {
    const lineEnd = raw.indexOf('\r\n', at);
    const size = parseInt(raw.subarray(at, lineEnd).toString('latin1'), 16);
    if (!size) break;
    parts.push(raw.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(parts).toString('utf8');
}

/** One contender's connection: sends a prepared request and resolves with its answer. */
export class RawConnection {
  private reader = new ResponseReader();
  private waiting: { resolve: (a: RawAnswer) => void; reject: (e: Error) => void } | null = null;

  private constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      const answer = this.reader.push(chunk);
      if (answer && this.waiting) {
        const { resolve } = this.waiting;
        this.waiting = null;
        resolve(answer);
      }
    });
    const fail = (err: Error) => {
      const waiting = this.waiting;
      this.waiting = null;
      waiting?.reject(err);
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('connection closed before the answer')));
  }

  /** `timeoutMs`: a connection silent that long while an answer is awaited is dropped, failing the request. */
  static open(host: string, port: number, timeoutMs?: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port }, () => resolve(new RawConnection(socket)));
      if (timeoutMs) socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      socket.once('error', reject);
    });
  }

  send(request: Buffer): Promise<RawAnswer> {
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.socket.write(request);
    });
  }

  /** False once the socket was closed (by either side, or by the timeout). */
  get alive(): boolean {
    return !this.socket.destroyed;
  }

  close(): void {
    this.socket.destroy();
  }
}

/**
 * The API closes a keep-alive connection idle for 5 s (node's default `keepAliveTimeout`); a pooled
 * connection idle nearly that long is replaced rather than reused, so that a request never races
 * that close.
 */
const REUSE_IDLE_MS = 4_000;

/**
 * Keep-alive connections to one server, as many as requests in flight: a request takes a free one
 * (opening one when none is) and gives it back once answered; one that failed is dropped.
 */
export class RawPool {
  private readonly free: Array<{ connection: RawConnection; since: number }> = [];
  private readonly open = new Set<RawConnection>();
  private readonly url: URL;

  /** `timeoutMs`: as `RawConnection.open`'s, for every connection of the pool. */
  constructor(
    base: string,
    private readonly timeoutMs?: number,
  ) {
    this.url = new URL(base);
  }

  async request(method: string, path: string, headers: Record<string, string>, body?: string): Promise<RawAnswer> {
    const request = rawRequest(method, path, this.url.host, headers, body);
    const connection = this.reusable() ?? (await RawConnection.open(this.url.hostname, Number(this.url.port), this.timeoutMs));
    this.open.add(connection);
    try {
      const answer = await connection.send(request);
      this.free.push({ connection, since: performance.now() });
      return answer;
    } catch (err) {
      this.drop(connection);
      throw err;
    }
  }

  /** Every connection closed: requests on the wire fail. */
  destroy(): void {
    for (const connection of this.open) connection.close();
    this.open.clear();
    this.free.length = 0;
  }

  private reusable(): RawConnection | undefined {
    const now = performance.now();
    for (let f = this.free.pop(); f; f = this.free.pop()) {
      if (f.connection.alive && now - f.since < REUSE_IDLE_MS) return f.connection;
      this.drop(f.connection);
    }
    return undefined;
  }

  private drop(connection: RawConnection): void {
    connection.close();
    this.open.delete(connection);
  }
}

/** An HTTP/1.1 keep-alive request as bytes. */
export function rawRequest(method: string, path: string, host: string, headers: Record<string, string>, body?: string): Buffer {
  const lines = [`${method} ${path} HTTP/1.1`, `host: ${host}`, 'connection: keep-alive'];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  if (body !== undefined) lines.push(`content-length: ${Buffer.byteLength(body)}`);
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body ?? ''}`);
}
