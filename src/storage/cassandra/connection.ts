// The Cassandra connection of the trace store: one driver Client (token-aware routing by the driver's default
// load-balancing policy, prepared statements, bigint as BigInt), consistency levels from the configuration, a bound
// on the statements in flight, and retries of idempotent statements on timeouts and unavailable nodes.
import cassandra from 'cassandra-driver';
import { InvalidArgumentError, StorageError, UnavailableError } from '../api/index.js';
import { parseDurationMs } from '../api/duration.js';
import { LATEST_VERSION, MIGRATIONS, compactionWindowHours, MIGRATIONS_TABLE, type Replication, checkAdoptable, checkKeyspace, createKeyspace, retentionStatements } from './schema.js';

/** consistency levels a write may use: not ANY (a write acknowledged at ANY may be only a hint, on no replica) */
export type ConsistencyName = 'ONE' | 'TWO' | 'THREE' | 'QUORUM' | 'ALL' | 'LOCAL_QUORUM' | 'EACH_QUORUM' | 'LOCAL_ONE';

const LEVELS: Record<ConsistencyName, cassandra.types.consistencies> = {
  ONE: cassandra.types.consistencies.one,
  TWO: cassandra.types.consistencies.two,
  THREE: cassandra.types.consistencies.three,
  QUORUM: cassandra.types.consistencies.quorum,
  ALL: cassandra.types.consistencies.all,
  LOCAL_QUORUM: cassandra.types.consistencies.localQuorum,
  EACH_QUORUM: cassandra.types.consistencies.eachQuorum,
  LOCAL_ONE: cassandra.types.consistencies.localOne,
};

/**
 * The driver's consistency level for a configured name (default LOCAL_QUORUM). Refuses unknown names, ANY, and
 * EACH_QUORUM for reads (which Cassandra does not serve at that level).
 */
export function consistencyLevel(field: 'readConsistency' | 'writeConsistency', name: string | undefined): cassandra.types.consistencies {
  if (name === undefined) return cassandra.types.consistencies.localQuorum;
  const allowed = Object.keys(LEVELS).filter((n) => field === 'writeConsistency' || n !== 'EACH_QUORUM');
  if (!allowed.includes(name)) {
    const why = name === 'ANY' ? 'ANY acknowledges a write that may be only a hint, stored on no replica' : `${JSON.stringify(name)} is not a consistency level`;
    throw new InvalidArgumentError(field, `${why}: expected one of ${allowed.join(', ')}`);
  }
  return LEVELS[name as ConsistencyName];
}

export interface CassandraBackendConfig {
  /** host or host:port */
  contactPoints: string[];
  localDataCenter: string;
  keyspace: string;
  credentials?: { username: string; password: string };
  /** used when provision() creates the keyspace; default SimpleStrategy with one replica */
  replication?: Replication;
  /** default TTL of the data ("7d"); default 7d */
  retention?: string;
  /** TimeWindowCompactionStrategy window ("2h", whole hours); default derived from the retention (about 30 windows) */
  compactionWindow?: string;
  /** default LOCAL_QUORUM for reads and writes */
  readConsistency?: ConsistencyName;
  writeConsistency?: ConsistencyName;
  /** consistency of the lease lock's compare-and-set: SERIAL (default, across data centers) or LOCAL_SERIAL */
  serialConsistency?: 'SERIAL' | 'LOCAL_SERIAL';
  /** statements in flight per backend (writes wait for a slot); default 256 */
  maxInFlight?: number;
  /** tries of an idempotent statement that timed out or found no replica; default 3 */
  maxTries?: number;
  /** spans per page when reading a trace, and per chunk of the stream; default 1000 */
  chunkSpans?: number;
  /** TLS towards the nodes (the driver's sslOptions: ca, servername, rejectUnauthorized) */
  tls?: { ca?: string | Buffer; servername?: string; rejectUnauthorized?: boolean };
  /** per request timeout, ms; default 12000 */
  requestTimeoutMs?: number;
}

const DEFAULT_RETENTION = '7d';

/**
 * A counting semaphore: at most `n` holders, waiters served first come, first served. A writer queues tens of
 * thousands of statements at once: waiters are taken from a head index (Array.shift would move them all each time)
 * and the array is compacted once its taken half is large.
 */
export class Slots {
  private free: number;
  private waiting: (() => void)[] = [];
  private head = 0;
  constructor(n: number) {
    this.free = n;
  }
  async take(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((r) => this.waiting.push(r));
  }
  give(): void {
    if (this.head === this.waiting.length) {
      this.free++;
      return;
    }
    const next = this.waiting[this.head++]!;
    if (this.head === this.waiting.length) {
      this.waiting = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.waiting.length) {
      this.waiting = this.waiting.slice(this.head);
      this.head = 0;
    }
    next();
  }
}

const RETRYABLE = new Set([cassandra.types.responseErrorCodes.writeTimeout, cassandra.types.responseErrorCodes.readTimeout, cassandra.types.responseErrorCodes.unavailableException, cassandra.types.responseErrorCodes.overloaded]);

/**
 * Cassandra refused the credentials (every host answered with an AuthenticationError). The connection does not
 * retry it (the same credentials fail again), but it is Unavailable, as for the search backends: the ingest pipeline
 * keeps the spans and clients are told to retry, so nothing is dropped while the credentials are being fixed. The
 * message names the fix.
 */
export class CassandraAuthError extends StorageError {
  constructor(message: string) {
    super('Unavailable', message);
    this.name = 'CassandraAuthError';
  }
}

/** the authentication errors of a NoHostAvailableError when every host it tried refused the credentials */
function authFailures(e: cassandra.errors.NoHostAvailableError): Error[] | undefined {
  const inner = Object.values((e.innerErrors ?? {}) as Record<string, unknown>);
  return inner.length > 0 && inner.every((x) => x instanceof cassandra.errors.AuthenticationError) ? (inner as Error[]) : undefined;
}

export function retryable(e: unknown): boolean {
  if (e instanceof cassandra.errors.NoHostAvailableError) return authFailures(e) === undefined;
  if (e instanceof cassandra.errors.OperationTimedOutError) return true;
  return e instanceof cassandra.errors.ResponseError && RETRYABLE.has(e.code);
}

export function translate(e: unknown): Error {
  if (e instanceof StorageError) return e;
  if (e instanceof cassandra.errors.AuthenticationError) return new CassandraAuthError(`Cassandra refused the credentials: ${e.message}; check credentials (username and password) in the backend configuration`);
  if (e instanceof cassandra.errors.NoHostAvailableError) {
    const auth = authFailures(e);
    if (auth) return new CassandraAuthError(`Cassandra refused the credentials: ${auth[0]!.message}; check credentials (username and password) in the backend configuration`);
  }
  if (e instanceof cassandra.errors.NoHostAvailableError || e instanceof cassandra.errors.OperationTimedOutError) return new UnavailableError(`Cassandra: ${e.message}`);
  if (e instanceof cassandra.errors.ResponseError && RETRYABLE.has(e.code)) return new UnavailableError(`Cassandra: ${e.message}`);
  return e instanceof Error ? e : new StorageError('Internal', String(e));
}

/** the serial consistency of conditional statements: SERIAL unless LOCAL_SERIAL is configured */
export function serialLevel(name: string | undefined): cassandra.types.consistencies {
  if (name === undefined || name === 'SERIAL') return cassandra.types.consistencies.serial;
  if (name === 'LOCAL_SERIAL') return cassandra.types.consistencies.localSerial;
  throw new InvalidArgumentError('serialConsistency', `${JSON.stringify(name)} is not a serial consistency level: expected SERIAL or LOCAL_SERIAL`);
}

export type Params = unknown[];

/** `p`, or a rejection with the signal's reason as soon as it aborts */
function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e as Error);
      },
    );
  });
}

export class CassandraConnection {
  readonly client: cassandra.Client;
  readonly keyspace: string;
  readonly ttlSeconds: number;
  readonly retentionNs: bigint;
  readonly chunkSpans: number;
  /** TWCS window of the time-bucketed tables, hours */
  readonly windowHours: number;
  private readonly read: cassandra.types.consistencies;
  private readonly write: cassandra.types.consistencies;
  private readonly slots: Slots;
  private readonly maxTries: number;
  private connected: Promise<void> | undefined;

  constructor(readonly cfg: CassandraBackendConfig) {
    this.keyspace = checkKeyspace(cfg.keyspace);
    const ms = parseDurationMs(cfg.retention ?? DEFAULT_RETENTION);
    this.ttlSeconds = Math.ceil(ms / 1000);
    this.retentionNs = BigInt(ms) * 1_000_000n;
    this.chunkSpans = cfg.chunkSpans ?? 1000;
    this.windowHours = cfg.compactionWindow ? Math.max(1, Math.ceil(parseDurationMs(cfg.compactionWindow) / 3_600_000)) : compactionWindowHours(this.ttlSeconds);
    this.read = consistencyLevel('readConsistency', cfg.readConsistency);
    this.write = consistencyLevel('writeConsistency', cfg.writeConsistency);
    this.slots = new Slots(cfg.maxInFlight ?? 256);
    this.maxTries = cfg.maxTries ?? 3;
    this.client = new cassandra.Client({
      contactPoints: cfg.contactPoints,
      localDataCenter: cfg.localDataCenter,
      ...(cfg.credentials ? { credentials: cfg.credentials } : {}),
      ...(cfg.tls ? { sslOptions: { ...cfg.tls } } : {}),
      encoding: { useBigIntAsLong: true, useBigIntAsVarint: true },
      // a node that comes back is used again within seconds (the driver's default waits up to 10 minutes)
      policies: { reconnection: new cassandra.policies.reconnection.ExponentialReconnectionPolicy(500, 10_000, false) },
      socketOptions: { connectTimeout: 5000, readTimeout: cfg.requestTimeoutMs ?? 12_000 },
      queryOptions: { prepare: true, consistency: this.read, serialConsistency: serialLevel(cfg.serialConsistency) },
    });
    this.closeReplacedHosts();
  }

  /**
   * Closes a node's Host that the driver replaced. When its control connection starts over (a restarted node
   * it cannot reach through the existing pools), the driver puts a new Host in place of the old one without closing
   * the old one's pool, which then reconnects forever (its timers alone keep the process alive).
   */
  private closeReplacedHosts(): void {
    this.client.on('hostRemove', (h: unknown) => {
      const host = h as { shutdown?: (waitForPending: boolean) => Promise<void> };
      void host.shutdown?.(false).catch(() => undefined);
    });
  }

  private connect(): Promise<void> {
    this.connected ??= this.client.connect().catch((e: unknown) => {
      this.connected = undefined;
      throw translate(e);
    });
    return this.connected;
  }

  /** statements with `ks.` replaced by the keyspace, by their text */
  private readonly statements = new Map<string, string>();

  /** a statement on the keyspace's tables (`ks.` is replaced by the keyspace) */
  q(cql: string): string {
    let out = this.statements.get(cql);
    if (out === undefined) {
      out = cql.replace(/\bks\./g, `${this.keyspace}.`);
      this.statements.set(cql, out);
    }
    return out;
  }

  /**
   * Runs a prepared statement within the in-flight bound. Idempotent statements are retried on timeouts and
   * unavailable replicas (with a short backoff); the driver may also run them speculatively.
   */
  exec(cql: string, params: Params, o: { write?: boolean; idempotent?: boolean; fetchSize?: number; pageState?: string; signal?: AbortSignal } = {}): Promise<cassandra.types.ResultSet> {
    const idempotent = o.idempotent ?? true;
    const options = {
      prepare: true,
      isIdempotent: idempotent,
      consistency: o.write ? this.write : this.read,
      ...(o.fetchSize ? { fetchSize: o.fetchSize } : {}),
      ...(o.pageState ? { pageState: o.pageState } : {}),
    };
    return this.bounded(() => this.client.execute(this.q(cql), params, options), idempotent, o.signal);
  }

  /**
   * Writes rows of one statement as an UNLOGGED batch, within the in-flight bound and with the retries of exec().
   * Meant for rows of one partition: Cassandra applies them as one mutation (atomic and isolated), which costs the
   * node and this process about as much as a single row.
   */
  batch(cql: string, rows: readonly Params[], o: { signal?: AbortSignal } = {}): Promise<cassandra.types.ResultSet> {
    const query = this.q(cql);
    const queries = rows.map((params) => ({ query, params }));
    const options = { prepare: true, logged: false, isIdempotent: true, consistency: this.write };
    return this.bounded(() => this.client.batch(queries, options), true, o.signal);
  }

  /** Runs a request once a slot is free, again after a retryable failure of an idempotent one (up to maxTries). */
  private async bounded(request: () => Promise<cassandra.types.ResultSet>, idempotent: boolean, signal: AbortSignal | undefined): Promise<cassandra.types.ResultSet> {
    await this.connect();
    for (let attempt = 1; ; attempt++) {
      signal?.throwIfAborted();
      await this.slots.take();
      const run = request();
      // the slot is held until the node answers, even when the caller has gone
      const give = (): void => this.slots.give();
      void run.then(give, give);
      try {
        // the driver cannot cancel a request: a caller whose signal aborts is answered with its reason at once
        return await (signal ? abortable(run, signal) : run);
      } catch (e) {
        if (signal?.aborted || !idempotent || attempt >= this.maxTries || !retryable(e)) throw translate(e);
      }
      await new Promise((r) => setTimeout(r, 50 * 2 ** attempt));
    }
  }

  /** Every row of a statement, page by page (`fetchSize` rows each). */
  async *pages(cql: string, params: Params, fetchSize: number, signal?: AbortSignal): AsyncGenerator<cassandra.types.Row[]> {
    let pageState: string | undefined;
    for (;;) {
      const rs = await this.exec(cql, params, { fetchSize, ...(pageState ? { pageState } : {}), ...(signal ? { signal } : {}) });
      if (rs.rows.length) yield rs.rows;
      pageState = rs.pageState ?? undefined;
      if (!pageState) return;
    }
  }

  /** Unprepared schema statements (DDL), waiting for schema agreement. */
  private async ddl(cql: string): Promise<void> {
    await this.client.execute(cql, [], { prepare: false });
  }

  /**
   * Creates the keyspace, applies the migrations not yet recorded in schema_migrations, then sets the retention
   * (TTL and compaction windows) on every table. Returns the schema version.
   */
  async provision(): Promise<number> {
    await this.connect();
    try {
      const existing = await this.client.execute('SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?', [this.keyspace], { prepare: true });
      checkAdoptable(this.keyspace, existing.rows.map((r) => r.get('table_name') as string));
      await this.ddl(createKeyspace(this.keyspace, this.cfg.replication ?? { class: 'SimpleStrategy', replicationFactor: 1 }));
      await this.ddl(MIGRATIONS_TABLE.replace('schema_migrations', `${this.keyspace}.schema_migrations`));
      const done = new Set((await this.client.execute(`SELECT version FROM ${this.keyspace}.schema_migrations`)).rows.map((r) => Number(r.get('version'))));
      const params = { ttlSeconds: this.ttlSeconds, windowHours: this.windowHours };
      for (const m of MIGRATIONS) {
        if (done.has(m.version)) continue;
        for (const s of m.statements(params)) await this.ddl(s.replace(/^(CREATE TABLE IF NOT EXISTS|ALTER TABLE) /, `$1 ${this.keyspace}.`));
        await this.client.execute(`INSERT INTO ${this.keyspace}.schema_migrations (version, description, applied_at) VALUES (?, ?, toTimestamp(now()))`, [m.version, m.description], { prepare: true });
      }
      for (const s of retentionStatements(params)) await this.ddl(s.replace(/^ALTER TABLE /, `ALTER TABLE ${this.keyspace}.`));
      return LATEST_VERSION;
    } catch (e) {
      throw translate(e);
    }
  }

  /** The release version of the node that answered (remote text). */
  async serverVersion(): Promise<string> {
    const rs = await this.exec('SELECT release_version FROM system.local', []);
    return String(rs.first()?.get('release_version') ?? '');
  }

  /**
   * Drops the keyspace when it is ours (it holds schema_migrations, or nothing); a keyspace with tables of something
   * else is left alone. Returns whether it was dropped; a keyspace already gone counts as dropped.
   */
  async dropKeyspace(): Promise<boolean> {
    await this.connect();
    try {
      const existing = await this.client.execute('SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?', [this.keyspace], { prepare: true });
      const tables = existing.rows.map((r) => r.get('table_name') as string);
      if (tables.length > 0 && !tables.includes('schema_migrations')) return false;
      await this.ddl(`DROP KEYSPACE IF EXISTS ${this.keyspace}`);
      return true;
    } catch (e) {
      throw translate(e);
    }
  }

  /**
   * Closes the session. A connection still being opened is waited for first: the driver's shutdown returns at once
   * while it connects and the session it then opens would stay (sockets and heartbeats keep the process alive).
   */
  async close(): Promise<void> {
    await this.connected?.catch(() => undefined);
    await this.client.shutdown();
  }
}
