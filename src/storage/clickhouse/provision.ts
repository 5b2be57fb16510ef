// Provisioning a ClickHouse database: the database, the migrations not yet recorded in schema_migrations (each
// recorded once applied, so a populated database moves from version N to N+1 in place), and the retention of each
// time-keyed table where it differs. A database holding tables that are not ours is refused. Also the claim of the
// database by one TraceStore and dropping it for deletionPolicy Delete.
import { InvalidArgumentError } from '../api/errors.js';
import type { ClickHouseConnection } from './connection.js';
import { LATEST_VERSION, MIGRATIONS, RETENTION_TABLES, type SchemaParams, createDatabase, dropDatabase, migrationsTable, ownObjects, retentionStatements } from './schema.js';

/** Why the database is not ours to use (tables of something else in it), if it is not. Pure. */
export function foreignDatabase(p: SchemaParams, existing: readonly string[]): string | undefined {
  const ours = new Set(ownObjects(p));
  const foreign = existing.filter((t) => !ours.has(t) && !t.startsWith('.inner'));
  if (!foreign.length) return undefined;
  if (!existing.includes(p.cluster ? 'schema_migrations_local' : 'schema_migrations')) {
    return `database ${p.database} holds tables of something else (${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', ...' : ''}): choose another database`;
  }
  return undefined;
}

export interface Provisioned {
  version: number;
  /** migrations applied now */
  applied: number[];
  /** tables whose retention was changed now */
  retentionChanged: string[];
}

/** whether a table's CREATE statement carries the retention `ttlSeconds` (none: no TTL clause) */
const hasRetention = (create: string, ttlSeconds: number): boolean => (ttlSeconds > 0 ? create.includes(`toIntervalSecond(${ttlSeconds})`) : !/\bTTL\b/.test(create));

export async function provision(conn: ClickHouseConnection, p: SchemaParams, upTo = LATEST_VERSION): Promise<Provisioned> {
  const objects = async (): Promise<Map<string, string>> =>
    new Map((await conn.rows<[string, string]>('SELECT name, create_table_query FROM system.tables WHERE database = {db:String}', { db: p.database })).map(([n, c]) => [n, c]));
  const before = await objects();
  const foreign = foreignDatabase(p, [...before.keys()]);
  if (foreign) throw new InvalidArgumentError('database', foreign);
  await conn.command(createDatabase(p));
  for (const st of migrationsTable(p)) await conn.command(st);
  const done = new Set((await conn.rows<[number]>(`SELECT version FROM ${p.database}.schema_migrations`)).map((r) => Number(r[0])));
  const applied: number[] = [];
  for (const m of MIGRATIONS) {
    if (m.version > upTo || done.has(m.version)) continue;
    for (const st of m.statements(p)) await conn.command(st, {}, { idempotent: false, ...(m.settings ? { settings: m.settings } : {}) });
    await conn.command(`INSERT INTO ${p.database}.schema_migrations (version, description, applied_at) VALUES ({v:UInt32}, {d:String}, now())`, { v: m.version, d: m.description }, { idempotent: false });
    applied.push(m.version);
  }
  const now = await objects();
  const retentionChanged: string[] = [];
  for (const { table } of RETENTION_TABLES) {
    const name = p.cluster ? `${table}_local` : table;
    const create = now.get(name);
    if (create === undefined || hasRetention(create, p.ttlSeconds)) continue;
    const st = retentionStatements(p).find((s) => s.table === table)!;
    await conn.command(st.sql, {}, { settings: { materialize_ttl_after_modify: 0 } });
    retentionChanged.push(table);
  }
  const version = Math.max(0, ...done, ...applied);
  return { version, applied, retentionChanged };
}

/** The TraceStore holding the database: the earliest claim in store_owner (undefined: none yet). */
async function holderOf(conn: ClickHouseConnection, database: string): Promise<string | undefined> {
  return (await conn.rows<[string]>(`SELECT owner FROM ${database}.store_owner ORDER BY since, owner LIMIT 1`))[0]?.[0];
}

/** Claims the database for `owner` unless another holds it; returns the holder (the earliest claim). */
export async function claim(conn: ClickHouseConnection, database: string, owner: string): Promise<string> {
  const holder = await holderOf(conn, database);
  if (holder !== undefined) return holder;
  await conn.command(`INSERT INTO ${database}.store_owner (owner, since) VALUES ({o:String}, now64(3))`, { o: owner }, { idempotent: false });
  return (await holderOf(conn, database)) ?? owner;
}

/**
 * Drops the database when it is ours and, if `owner` is given, no other TraceStore claimed it. Returns why it kept
 * the database instead; a database already gone counts as dropped.
 */
export async function dropOwnDatabase(conn: ClickHouseConnection, p: SchemaParams, owner?: string): Promise<string | undefined> {
  const existing = (await conn.rows<[string]>('SELECT name FROM system.tables WHERE database = {db:String}', { db: p.database })).map((r) => r[0]);
  const [db] = await conn.rows<[string]>('SELECT name FROM system.databases WHERE name = {db:String}', { db: p.database });
  if (!db) return undefined;
  const foreign = foreignDatabase(p, existing);
  if (foreign) return foreign.replace(/: choose another database$/, '');
  // tables someone added next to ours are theirs: the database is not dropped under them
  const ours = new Set(ownObjects(p));
  const added = existing.filter((t) => !ours.has(t) && !t.startsWith('.inner'));
  if (added.length) return `database ${p.database} also holds tables that are not ours (${added.slice(0, 3).join(', ')}${added.length > 3 ? ', ...' : ''})`;
  if (owner && existing.includes(p.cluster ? 'store_owner_local' : 'store_owner')) {
    const holder = await holderOf(conn, p.database);
    if (holder !== undefined && holder !== owner) return `database ${p.database} belongs to TraceStore ${holder}`;
  }
  await conn.command(dropDatabase(p));
  return undefined;
}
