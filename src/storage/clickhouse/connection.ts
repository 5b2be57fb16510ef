// The connection to ClickHouse over its HTTP interface (@clickhouse/client): one client per endpoint, requests
// bounded in flight, idempotent requests retried on another endpoint after a network failure or an overloaded
// server, and ClickHouse's errors translated into storage errors (authentication, unavailable, bad input).
import { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { Agent as HttpsAgent } from 'node:https';
import { type ClickHouseClient, ClickHouseError, createClient } from '@clickhouse/client';
import { InvalidArgumentError, StorageError, UnavailableError } from '../api/errors.js';
import { abortable } from '../api/abortable.js';
import { Slots } from '../api/slots.js';
import { backendErrorMessage } from '../../api/redact.js';

export interface ClickHouseBackendConfig {
  /** server URLs (http:// or https://) */
  endpoints: string[];
  database: string;
  /** cluster name: ON CLUSTER DDL, Replicated* engines, Distributed tables */
  cluster?: string;
  partitionBy?: 'day' | 'hour';
  username?: string;
  password?: string;
  /** TLS towards https:// endpoints: a CA bundle (PEM) and whether to verify the certificate */
  tls?: { ca?: string; rejectUnauthorized?: boolean };
  retention?: string;
  /** inserts as ClickHouse async inserts (the server batches them; acknowledged once flushed) */
  asyncInsert?: boolean;
  /** inserts in flight at once (default 2: batches that arrive meanwhile join the next insert; the second runs only for a group of at least a fifth of maxBatchRows) */
  maxInFlightInserts?: number;
  /** rows of the spans table per insert at most (default 50,000) */
  maxBatchRows?: number;
  /** other requests in flight at once (default 32) */
  maxInFlight?: number;
  /** per request timeout, ms (default 30,000) */
  requestTimeoutMs?: number;
  /** tries of an idempotent request (default 3) */
  maxTries?: number;
  /** spans per chunk of a read (default 1,000) */
  chunkSpans?: number;
}

/** The settings of an insert (`json`: the small JSONEachRow tables; else a RowBinary block of spans). */
export function insertSettings(cfg: Pick<ClickHouseBackendConfig, 'asyncInsert' | 'cluster'>, json: boolean): Record<string, string | number> {
  return {
    ...(cfg.asyncInsert ? { async_insert: 1, wait_for_async_insert: 1 } : {}),
    // a retried block whose views were not all written is written to them again, not dropped with the block
    ...(json ? {} : { deduplicate_blocks_in_dependent_materialized_views: 1 }),
    // on a cluster the insert goes through a Distributed table: acknowledged only once the shards hold the rows
    // (not queued on the receiving node) and a majority of each shard's replicas wrote them
    ...(cfg.cluster ? { distributed_foreground_insert: 1, insert_quorum: 'auto' } : {}),
  };
}

/** ClickHouse refused the credentials (or there are none and it wants some). */
export class ClickHouseAuthError extends UnavailableError {
  constructor(message: string) {
    super(message);
    this.name = 'ClickHouseAuthError';
  }
}

/** error codes of a refused login: UNKNOWN_USER, WRONG_PASSWORD, REQUIRED_PASSWORD, AUTHENTICATION_FAILED */
const AUTH_CODES = new Set(['192', '193', '194', '516']);
/** codes worth another try: timeouts, too many queries or parts, memory, network between servers, readonly replica */
const RETRY_CODES = new Set(['159', '202', '203', '209', '210', '241', '242', '252', '279', '319', '425', '999', '1000']);
/**
 * codes of a user that may not run the statement: READONLY (the user's readonly setting), ACCESS_DENIED (a missing
 * grant). Not retried: only a change of the user's settings or grants helps.
 */
const PRIVILEGE_CODES = new Set(['164', '497']);
/** codes of a refused statement the caller can fix: syntax, unknown identifier, bad argument, type mismatch */
const INPUT_CODES = new Set(['6', '26', '27', '36', '38', '41', '43', '53', '62', '69', '70', '72', '117', '130', '131', '386']);

const NETWORK = /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|socket hang up|Timeout error|timed? ?out|other side closed|UND_ERR/i;

/** whether a failed request may be sent again */
export function retryable(e: unknown): boolean {
  if (e instanceof ClickHouseError) return RETRY_CODES.has(e.code);
  const text = e instanceof Error ? `${e.message} ${(e as NodeJS.ErrnoException).code ?? ''}` : String(e);
  return NETWORK.test(text);
}

/** The storage error for a failed request. */
export function translate(e: unknown): Error {
  if (e instanceof StorageError) return e;
  if (e instanceof ClickHouseError) {
    if (AUTH_CODES.has(e.code)) return new ClickHouseAuthError(`ClickHouse refused the credentials: ${backendErrorMessage(e)}`);
    if (RETRY_CODES.has(e.code)) return new UnavailableError(`ClickHouse is overloaded or a replica is unavailable: ${backendErrorMessage(e)}`);
    // unavailable, not internal: writers keep their spans and retry, and get through once the user may write
    if (PRIVILEGE_CODES.has(e.code))
      return new UnavailableError(`ClickHouse does not let this user run the statement (a readonly user or a missing grant): grant the privileges the README lists for the database, or use a user without readonly: ${backendErrorMessage(e)}`);
    if (INPUT_CODES.has(e.code)) return new StorageError('InvalidArgument', `ClickHouse refused the statement: ${backendErrorMessage(e)}`);
    return new StorageError('Internal', `ClickHouse: ${backendErrorMessage(e)}`);
  }
  if (e instanceof Error && e.name === 'AbortError') return e;
  return new UnavailableError(`ClickHouse is unreachable: ${backendErrorMessage(e)}`);
}

/** the signal's reason when it aborted (the caller's own error), else the storage error for `e` */
const abortedOr = (e: unknown, signal: AbortSignal | undefined): Error => (signal?.aborted && signal.reason instanceof Error ? signal.reason : translate(e));

/** Query parameters ({name:Type} placeholders): bigints as decimal strings. */
export type Params = Record<string, string | number | boolean | bigint | readonly (string | number | bigint)[]>;

const bindable = (p: Params): Record<string, unknown> =>
  Object.fromEntries(Object.entries(p).map(([k, v]) => [k, typeof v === 'bigint' ? v.toString() : Array.isArray(v) ? v.map((x: unknown) => (typeof x === 'bigint' ? x.toString() : x)) : v]));

export class ClickHouseConnection {
  readonly database: string;
  private readonly clients: ClickHouseClient[];
  private next = 0;
  private readonly slots: Slots;
  private readonly insertSlots: Slots;
  private readonly maxTries: number;

  constructor(readonly cfg: ClickHouseBackendConfig) {
    if (!cfg.endpoints.length) throw new InvalidArgumentError('endpoints', 'name at least one ClickHouse URL');
    this.database = cfg.database;
    this.slots = new Slots(cfg.maxInFlight ?? 32);
    this.insertSlots = new Slots(cfg.maxInFlightInserts ?? 2);
    this.maxTries = cfg.maxTries ?? 3;
    this.clients = cfg.endpoints.map((url) => {
      const https = url.toLowerCase().startsWith('https://');
      const skipVerify = https && cfg.tls?.rejectUnauthorized === false;
      return createClient({
        url,
        ...(cfg.username !== undefined ? { username: cfg.username, password: cfg.password ?? '' } : {}),
        request_timeout: cfg.requestTimeoutMs ?? 30_000,
        max_open_connections: (cfg.maxInFlight ?? 32) + (cfg.maxInFlightInserts ?? 2),
        compression: { request: false, response: false },
        application: 'jaeger-storage-operator',
        // our own agent only to skip verification; the client's own agent otherwise (it applies ca_cert)
        ...(skipVerify ? { http_agent: new HttpsAgent({ keepAlive: true, rejectUnauthorized: false, ...(cfg.tls?.ca ? { ca: cfg.tls.ca } : {}) }), set_basic_auth_header: true } : {}),
        ...(https && !skipVerify && cfg.tls?.ca ? { tls: { ca_cert: Buffer.from(cfg.tls.ca) } } : {}),
      });
    });
  }

  /** Runs `request` on an endpoint once a slot is free; an idempotent one again (next endpoint) after a retryable failure. */
  private async bounded<T>(request: (c: ClickHouseClient) => Promise<T>, o: { idempotent?: boolean; signal?: AbortSignal; slots?: Slots } = {}): Promise<T> {
    const slots = o.slots ?? this.slots;
    for (let attempt = 1; ; attempt++) {
      o.signal?.throwIfAborted();
      await slots.take();
      const client = this.clients[this.next++ % this.clients.length]!;
      try {
        // the client gives up a request whose signal aborts, not always at once: the caller is answered at once
        return await (o.signal ? abortable(request(client), o.signal) : request(client));
      } catch (e) {
        if (o.signal?.aborted) throw abortedOr(e, o.signal);
        if (!(o.idempotent ?? true) || attempt >= this.maxTries || !retryable(e)) throw translate(e);
      } finally {
        slots.give();
      }
      // the pause before another try ends early when the caller gives up
      try {
        await delay(100 * 2 ** attempt, undefined, o.signal ? { signal: o.signal } : {});
      } catch (e) {
        throw abortedOr(e, o.signal);
      }
    }
  }

  /** A statement without a result (DDL, INSERT ... SELECT, lightweight DELETE). */
  async command(sql: string, params: Params = {}, o: { idempotent?: boolean; signal?: AbortSignal; settings?: Record<string, string | number> } = {}): Promise<void> {
    await this.bounded(
      (c) =>
        c.command({
          query: sql,
          query_params: bindable(params),
          ...(o.signal ? { abort_signal: o.signal } : {}),
          ...(o.settings ? { clickhouse_settings: o.settings } : {}),
        }),
      o,
    );
  }

  /** Every row of a SELECT as arrays (JSONCompactEachRow). */
  async rows<T extends unknown[]>(sql: string, params: Params = {}, signal?: AbortSignal): Promise<T[]> {
    return this.bounded(
      async (c) => {
        const rs = await c.query({ query: sql, format: 'JSONCompactEachRow', query_params: bindable(params), ...(signal ? { abort_signal: signal } : {}) });
        return rs.json<T>();
      },
      { ...(signal ? { signal } : {}) },
    );
  }

  /**
   * The rows of a SELECT as they arrive, in batches (JSONCompactEachRow): a big result never sits in memory whole.
   * Not retried once rows have been handed out.
   */
  async *stream<T extends unknown[]>(sql: string, params: Params = {}, signal?: AbortSignal): AsyncGenerator<T[]> {
    await this.slots.take();
    try {
      const client = this.clients[this.next++ % this.clients.length]!;
      let rs;
      try {
        rs = await client.query({ query: sql, format: 'JSONCompactEachRow', query_params: bindable(params), ...(signal ? { abort_signal: signal } : {}) });
      } catch (e) {
        throw abortedOr(e, signal);
      }
      const s = rs.stream<T>();
      try {
        for await (const batch of s) yield batch.map((r) => r.json<T>());
      } catch (e) {
        throw abortedOr(e, signal);
      } finally {
        s.destroy();
      }
    } finally {
      this.slots.give();
    }
  }

  /**
   * Inserts rows into a table (qualified name) as one block: JSONEachRow lines, or RowBinary bytes of `columns`.
   * Acknowledged once ClickHouse wrote it (with async inserts: once the server flushed it). RowBinary blocks (the
   * spans table, which deduplicates a block written twice) are retried like an idempotent request; JSON rows are not.
   */
  async insert(table: string, rows: readonly string[] | { columns: string; body: Buffer }, signal?: AbortSignal): Promise<void> {
    const json = Array.isArray(rows);
    const body = json ? Buffer.from(rows.join('\n')) : (rows as { body: Buffer }).body;
    const query = json ? `INSERT INTO ${table} FORMAT JSONEachRow` : `INSERT INTO ${table} (${(rows as { columns: string }).columns}) FORMAT RowBinary`;
    const settings = insertSettings(this.cfg, json);
    await this.bounded(
      async (c) => {
        const r = await c.exec({ query, values: Readable.from([body], { objectMode: false }), clickhouse_settings: settings, ...(signal ? { abort_signal: signal } : {}) });
        r.stream.resume();
        await new Promise<void>((resolve, reject) => {
          r.stream.once('end', resolve);
          r.stream.once('error', reject);
        });
      },
      // only the spans table deduplicates a retried block: the small JSON tables are not retried
      { slots: this.insertSlots, idempotent: !json, ...(signal ? { signal } : {}) },
    );
  }

  /** The server's version (remote text). */
  async version(): Promise<string> {
    const [row] = await this.rows<[string]>('SELECT version()');
    return row?.[0] ?? '';
  }

  async ping(): Promise<void> {
    const r = await this.clients[0]!.ping();
    if (!r.success) throw translate(r.error);
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.close().catch(() => undefined)));
  }
}
