// The Cassandra connection of the trace store: one driver Client (token-aware routing by the driver's default
// load-balancing policy, prepared statements, bigint as BigInt), consistency levels from the configuration, a bound
// on the statements in flight, and retries of idempotent statements on timeouts and unavailable nodes.
import cassandra from 'cassandra-driver';
import { InvalidArgumentError, StorageError, UnavailableError } from '../api/index.js';
import { parseDurationMs } from '../api/duration.js';
import { abortable } from '../api/abortable.js';
import { Slots } from '../api/slots.js';
import { LATEST_VERSION, MIGRATIONS, MIGRATIONS_TABLE, type Replication, checkAdoptable, checkKeyspace, compactionWindowHours, createKeyspace, foreignKeyspace, retentionSettings } from './schema.js';

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

/** the errors of a NoHostAvailableError by host */
function innerErrors(e: cassandra.errors.NoHostAvailableError): [string, unknown][] {
  return Object.entries((e.innerErrors ?? {}) as Record<string, unknown>);
}

/** the first line of an error's message, without a stack or an inspected object around it */
function firstLine(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return text.split('\n')[0]!.replace(/\s+at\s+\S+\s+\(.*$/, '').trim();
}

/** whether a host refused the credentials: the driver's AuthenticationError (its server text is never repeated) */
const isAuth = (e: unknown): boolean => e instanceof cassandra.errors.AuthenticationError;

export function retryable(e: unknown): boolean {
  if (e instanceof cassandra.errors.NoHostAvailableError) return !innerErrors(e).some(([, x]) => isAuth(x));
  if (e instanceof cassandra.errors.OperationTimedOutError) return true;
  return e instanceof cassandra.errors.ResponseError && RETRYABLE.has(e.code);
}

const AUTH_FIX = 'check credentials (username and password) in the backend configuration';

/**
 * A storage error for a driver error, its message built from the first line of each host's error (no stack, no
 * inspected objects; the server's text about refused credentials is not repeated: it may name the user). The
 * driver's error stays as `cause`.
 */
export function translate(e: unknown): Error {
  if (e instanceof StorageError) return e;
  const withCause = <T extends Error>(err: T): T => Object.assign(err, { cause: e });
  if (isAuth(e)) return withCause(new CassandraAuthError(`Cassandra refused the credentials: ${AUTH_FIX}`));
  if (e instanceof cassandra.errors.NoHostAvailableError) {
    const inner = innerErrors(e);
    const refused = inner.filter(([, x]) => isAuth(x)).map(([h]) => h);
    if (refused.length) return withCause(new CassandraAuthError(`Cassandra refused the credentials (${refused.join(', ')}): ${AUTH_FIX}`));
    const each = inner.map(([h, x]) => `${h}: ${firstLine(x)}`).join('; ');
    return withCause(new UnavailableError(`Cassandra: no node answered${each ? ` (${each})` : ''}`));
  }
  if (e instanceof cassandra.errors.OperationTimedOutError) return withCause(new UnavailableError(`Cassandra: ${firstLine(e)}`));
  if (e instanceof cassandra.errors.ResponseError && RETRYABLE.has(e.code)) return withCause(new UnavailableError(`Cassandra: ${firstLine(e)}`));
  return e instanceof Error ? e : new StorageError('Internal', String(e));
}

/** the serial consistency of conditional statements: SERIAL unless LOCAL_SERIAL is configured */
export function serialLevel(name: string | undefined): cassandra.types.consistencies {
  if (name === undefined || name === 'SERIAL') return cassandra.types.consistencies.serial;
  if (name === 'LOCAL_SERIAL') return cassandra.types.consistencies.localSerial;
  throw new InvalidArgumentError('serialConsistency', `${JSON.stringify(name)} is not a serial consistency level: expected SERIAL or LOCAL_SERIAL`);
}

export type Params = unknown[];

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
      // a connect that failed after the control connection opened (e.g. no node in the local datacenter) leaves
      // that connection and its heartbeat open: the driver's shutdown skips a client that never connected
      const control = (this.client as unknown as { controlConnection?: { connection?: { close(cb?: () => void): void } | null } }).controlConnection;
      control?.connection?.close();
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

  /** a read of Cassandra's own schema tables (node-local: LOCAL_ONE) */
  private async meta(cql: string, params: unknown[]): Promise<cassandra.types.Row[]> {
    return (await this.client.execute(cql, params, { prepare: true, consistency: cassandra.types.consistencies.localOne })).rows;
  }

  /** the keyspace as it is: its replication (undefined when absent), tables and schema_migrations columns */
  private async keyspaceState(): Promise<{ replication?: Record<string, string>; tables: string[]; migrationColumns: string[] }> {
    const [ks, tables, columns] = await Promise.all([
      this.meta('SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?', [this.keyspace]),
      this.meta('SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?', [this.keyspace]),
      this.meta("SELECT column_name FROM system_schema.columns WHERE keyspace_name = ? AND table_name = 'schema_migrations'", [this.keyspace]),
    ]);
    const replication = ks[0]?.get('replication') as Record<string, string> | undefined;
    return { ...(replication ? { replication } : {}), tables: tables.map((r) => r.get('table_name') as string), migrationColumns: columns.map((r) => r.get('column_name') as string) };
  }

  /** Refuses a replication factor above the nodes that would hold the replicas (writes at any level would fail). */
  private checkReplicationFits(r: Replication): void {
    const hosts = (this.client.hosts?.values() ?? []) as { datacenter?: string }[];
    const [factor, nodes, where] =
      r.class === 'SimpleStrategy'
        ? [r.replicationFactor, hosts.length, 'the cluster']
        : [Math.max(...Object.values(r.dataCenters)), hosts.filter((h) => h.datacenter === this.cfg.localDataCenter).length, `datacenter ${this.cfg.localDataCenter}`];
    if (nodes > 0 && factor > nodes) {
      throw new InvalidArgumentError('replication.factor', `is ${factor}, but ${where} has ${nodes} node${nodes === 1 ? '' : 's'}: writes would find too few replicas; set it to at most ${nodes}`);
    }
  }

  /**
   * Brings the keyspace to the latest schema and the configured retention, running DDL only for what differs (a
   * user without schema permissions can run on a keyspace that is already current): creates the keyspace, applies
   * the migrations not yet recorded in schema_migrations, then sets the TTL and compaction window of each table
   * whose settings differ. Refuses a keyspace that is not ours. Returns the schema version and the keyspace's
   * replication as Cassandra has it.
   */
  async provision(): Promise<{ version: number; replication: Record<string, string> }> {
    await this.connect();
    try {
      const ks = this.keyspace;
      const state = await this.keyspaceState();
      checkAdoptable(ks, state.tables, state.migrationColumns);
      if (!state.replication) {
        const r = this.cfg.replication ?? { class: 'SimpleStrategy', replicationFactor: 1 };
        this.checkReplicationFits(r);
        await this.ddl(createKeyspace(ks, r));
      }
      if (!state.tables.includes('schema_migrations')) await this.ddl(MIGRATIONS_TABLE.replace('schema_migrations', `${ks}.schema_migrations`));
      const done = new Set((await this.meta(`SELECT version FROM ${ks}.schema_migrations`, [])).map((r) => Number(r.get('version'))));
      const params = { ttlSeconds: this.ttlSeconds, windowHours: this.windowHours };
      for (const m of MIGRATIONS) {
        if (done.has(m.version)) continue;
        for (const st of m.statements(params)) await this.ddl(st.replace(/^(CREATE TABLE IF NOT EXISTS|ALTER TABLE) /, `$1 ${ks}.`));
        await this.client.execute(`INSERT INTO ${ks}.schema_migrations (version, description, applied_at) VALUES (?, ?, toTimestamp(now()))`, [m.version, m.description], { prepare: true });
      }
      const options = new Map(
        (await this.meta('SELECT table_name, default_time_to_live, compaction FROM system_schema.tables WHERE keyspace_name = ?', [ks])).map((r) => [
          r.get('table_name') as string,
          { ttl: Number(r.get('default_time_to_live')), window: (r.get('compaction') as Record<string, string>).compaction_window_size },
        ]),
      );
      for (const want of retentionSettings(params)) {
        const has = options.get(want.table);
        if (has && has.ttl === want.ttlSeconds && (want.windowHours === undefined || has.window === String(want.windowHours))) continue;
        await this.ddl(want.cql.replace(/^ALTER TABLE /, `ALTER TABLE ${ks}.`));
      }
      // the replication read at the start, or of the keyspace just created
      return { version: LATEST_VERSION, replication: state.replication ?? (await this.keyspaceState()).replication ?? {} };
    } catch (e) {
      throw translate(e);
    }
  }

  /**
   * Claims the keyspace for `owner` ("<namespace>/<name>") unless another owner holds it (a lightweight transaction).
   * Returns the owner that holds it now.
   */
  async claim(owner: string): Promise<string> {
    const rs = await this.exec('INSERT INTO ks.store_owner (id, owner, since) VALUES (0, ?, toTimestamp(now())) IF NOT EXISTS', [owner], { write: true, idempotent: false });
    const row = rs.first();
    return row?.get('[applied]') === true ? owner : ((row?.get('owner') as string | null) ?? owner);
  }

  /** The release version of the node that answered (remote text); read at LOCAL_ONE, whatever the configured levels. */
  async serverVersion(): Promise<string> {
    await this.connect();
    try {
      return String((await this.meta('SELECT release_version FROM system.local', []))[0]?.get('release_version') ?? '');
    } catch (e) {
      throw translate(e);
    }
  }

  /**
   * Drops the keyspace when it is ours (see foreignKeyspace) and, if `owner` is given, no other TraceStore claimed
   * it. Returns why it kept the keyspace instead; a keyspace already gone counts as dropped.
   */
  async dropKeyspace(owner?: string): Promise<string | undefined> {
    await this.connect();
    try {
      const state = await this.keyspaceState();
      if (!state.replication) return undefined;
      const foreign = foreignKeyspace(this.keyspace, state.tables, state.migrationColumns);
      if (foreign) return foreign.replace(/: choose another keyspace$/, '');
      if (owner && state.tables.includes('store_owner')) {
        const holder = (await this.meta(`SELECT owner FROM ${this.keyspace}.store_owner WHERE id = 0`, []))[0]?.get('owner') as string | undefined;
        if (holder && holder !== owner) return `keyspace ${this.keyspace} belongs to TraceStore ${holder}`;
      }
      await this.ddl(`DROP KEYSPACE IF EXISTS ${this.keyspace}`);
      return undefined;
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
