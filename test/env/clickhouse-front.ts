// The ClickHouse test server: ClickHouse's HTTP interface over one session of the real ClickHouse engine, which the npm
// package chdb (installed by test/env/build-clickhouse.sh into $CHDB_DIR) runs in this process. Every statement runs on
// the engine; this program does what ClickHouse's HTTP handler does around it: credentials, the query from the URL and
// the body, per-query settings and database, {name:Type} parameters, INSERT data, compression, Native blocks for the
// client's protocol revision (client_protocol_version, as clickhouse-go sends it), the response headers and the error
// body that clients parse. test/env/clickhouse.ts starts it as a child process:
//
//   node dist/test/env/clickhouse-front.js --port <p> --data <dir> [--user U --password P]
//     [--tls-cert F --tls-key F] [--parent-pid N]
//
// It prints `listening <port>` once it answers, and exits on SIGTERM/SIGINT (after the running statement, closing the
// session) or when the parent pid is gone.
//
// How it differs from a ClickHouse server, all on purpose or for want of an engine hook:
// - one engine session serves every request, one statement at a time (a chdb session runs one statement at a time
//   anyway); URL settings and `database` are applied with SET/USE before the statement and undone after it, and a SET
//   or USE statement of a request is undone too (as in a request without session_id; session_id is accepted and
//   ignored, so no state is kept between requests)
// - results are buffered, not streamed: an error is always an HTTP error status, never a tail of a 200 body
// - INSERT data is written to a file that the statement reads (FROM INFILE; input() replaced by file()): the engine
//   reads input() from the process's stdin, and data given to it with the statement ends at the first empty line
// - Native results for a client_protocol_version > 0 are the engine's revision-0 blocks re-framed, which needs each
//   column's data skipped by its type: columns of Variant, Dynamic, JSON, Object and AggregateFunction types are
//   refused (NOT_IMPLEMENTED) there; any sparse column comes out full (custom serialization byte 0)
// - GET requests are not made read-only; compress=1/decompress=1 (ClickHouse's own block compression) are refused
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import { randomUUID, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, readFileSync, writeFileSync } from 'node:fs';
import { type IncomingMessage, type ServerResponse, createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import zlib from 'node:zlib';

// ---- the engine: the part of chdb this program uses ----------------------------------------------------------------

/** what the addon returns for a statement: its output in the requested format and the engine's counters */
interface EngineResult {
  bytes: Uint8Array;
  elapsed: number;
  rowsRead: number;
  bytesRead: number;
}
/** the rows and bytes an INSERT's data held */
interface EngineInsertResult {
  elapsed: number;
  rowsWritten: number;
  bytesWritten: number;
}
/**
 * chdb's native addon, called directly: its JS wrappers escape parameter values once more (a value of the HTTP
 * interface is already in ClickHouse's escaped text form).
 */
interface ChdbNative {
  QueryAsyncConnection(connection: unknown, sql: string, format: string, params?: Record<string, string>): Promise<EngineResult>;
}
interface ChdbSession {
  readonly connection: unknown;
  close(): void;
}
interface ChdbModule {
  Session: new (path: string, opts?: { connectionArgs?: readonly string[] }) => ChdbSession;
}

const BUILD = 'bash test/env/build-clickhouse.sh';
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

function chdbDir(): string {
  if (process.env.CHDB_DIR) return process.env.CHDB_DIR;
  return execFileSync('bash', ['-c', `source "${join(REPO_ROOT, 'test/env/versions.sh')}"; echo "$CHDB_DIR"`], { encoding: 'utf8' }).trim();
}

function loadChdb(): { chdb: ChdbModule; native: ChdbNative } {
  const dir = chdbDir();
  const pkg = join(dir, 'node_modules', 'chdb');
  if (!existsSync(join(dir, '.stamp')) || !existsSync(join(pkg, 'package.json'))) {
    throw new Error(`the ClickHouse engine (npm chdb) is not installed in ${dir}: run: ${BUILD}`);
  }
  const req = createRequire(join(dir, 'package.json'));
  const chdb = req('chdb') as ChdbModule;
  // the addon chdb itself loaded (the loader caches it), by path: the package's exports do not list the loader
  const native = (req(join(pkg, 'dist', 'loader.js')) as { loadNative(): ChdbNative }).loadNative();
  return { chdb, native };
}

// ---- command line ----------------------------------------------------------------------------------------------------

interface Options {
  port: number;
  data: string;
  user: string;
  password: string;
  tlsCert?: string;
  tlsKey?: string;
  parentPid?: number;
}

function parseArgs(argv: string[]): Options {
  const v = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i] ?? '';
    const val = argv[i + 1];
    if (!k.startsWith('--') || val === undefined) throw new Error(`usage: clickhouse-front.js --port <p> --data <dir> [--user U --password P] [--tls-cert F --tls-key F] [--parent-pid N] (at '${k}')`);
    v.set(k.slice(2), val);
  }
  const port = Number(v.get('port'));
  const data = v.get('data');
  if (!Number.isInteger(port) || port <= 0 || !data) throw new Error('--port <p> and --data <dir> are required');
  if (v.has('tls-cert') !== v.has('tls-key')) throw new Error('--tls-cert and --tls-key go together');
  const pp = v.get('parent-pid');
  return {
    port,
    data: resolve(data),
    user: v.get('user') ?? 'default',
    password: v.get('password') ?? '',
    ...(v.has('tls-cert') ? { tlsCert: v.get('tls-cert'), tlsKey: v.get('tls-key') } : {}),
    ...(pp ? { parentPid: Number(pp) } : {}),
  };
}

// ---- errors ----------------------------------------------------------------------------------------------------------

/** ClickHouse error codes this program raises itself */
const ERR = {
  UNSUPPORTED_METHOD: 1,
  BAD_ARGUMENTS: 36,
  NOT_IMPLEMENTED: 48,
  SYNTAX_ERROR: 62,
  UNKNOWN_SETTING: 115,
  TOO_MANY_SIMULTANEOUS_QUERIES: 202,
  QUERY_IS_TOO_LARGE: 229,
  CANNOT_DECOMPRESS: 271,
  AUTHENTICATION_FAILED: 516,
  STD_EXCEPTION: 1001,
} as const;
const ERR_NAMES: Record<number, string> = Object.fromEntries(Object.entries(ERR).map(([k, c]) => [c, k]));

/**
 * ClickHouse's exceptionCodeToHTTPStatus (src/Server/HTTP/exceptionCodeToHTTPStatus.cpp) by error name; the codes of
 * the names come from the engine (errorCodeToName) at start. Any other code is 500.
 */
const STATUS_BY_NAME: Record<number, string[]> = {
  401: ['REQUIRED_PASSWORD'],
  403: ['UNKNOWN_USER', 'WRONG_PASSWORD', 'AUTHENTICATION_FAILED', 'SET_NON_GRANTED_ROLE', 'ACCESS_DENIED'],
  400: [
    'BAD_ARGUMENTS', 'CANNOT_COMPILE_REGEXP', 'CANNOT_PARSE_TEXT', 'CANNOT_PARSE_ESCAPE_SEQUENCE', 'CANNOT_PARSE_QUOTED_STRING',
    'CANNOT_PARSE_DATE', 'CANNOT_PARSE_DATETIME', 'CANNOT_PARSE_NUMBER', 'CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING', 'CANNOT_PARSE_IPV4',
    'CANNOT_PARSE_IPV6', 'CANNOT_PARSE_INPUT_ASSERTION_FAILED', 'CANNOT_PARSE_UUID', 'DUPLICATE_COLUMN', 'ILLEGAL_COLUMN',
    'UNKNOWN_ELEMENT_IN_AST', 'UNKNOWN_TYPE_OF_AST_NODE', 'THERE_IS_NO_COLUMN', 'TOO_DEEP_AST', 'TOO_BIG_AST', 'UNEXPECTED_AST_STRUCTURE',
    'SYNTAX_ERROR', 'INCORRECT_DATA', 'TYPE_MISMATCH', 'VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE',
  ],
  404: [
    'UNKNOWN_TABLE', 'UNKNOWN_FUNCTION', 'UNKNOWN_IDENTIFIER', 'UNKNOWN_TYPE', 'UNKNOWN_STORAGE', 'UNKNOWN_DATABASE', 'UNKNOWN_SETTING',
    'UNKNOWN_DIRECTION_OF_SORTING', 'UNKNOWN_AGGREGATE_FUNCTION', 'UNKNOWN_FORMAT', 'UNKNOWN_DATABASE_ENGINE', 'UNKNOWN_TYPE_OF_QUERY', 'UNKNOWN_ROLE',
  ],
  413: ['QUERY_IS_TOO_LARGE'],
  501: ['NOT_IMPLEMENTED'],
  503: ['SOCKET_TIMEOUT', 'CANNOT_OPEN_FILE', 'CANNOT_SCHEDULE_TASK'],
  411: ['HTTP_LENGTH_REQUIRED'],
  408: ['TIMEOUT_EXCEEDED'],
  415: ['UNSUPPORTED_MEDIA_TYPE'],
};
const statusByCode = new Map<number, number>();
function httpStatus(code: number): number {
  // a full queue: the test server's own refusal, retried by a client that backs off
  if (code === ERR.TOO_MANY_SIMULTANEOUS_QUERIES) return 503;
  return statusByCode.get(code) ?? 500;
}

class ClickHouseException extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

let engineVersion = '';

/**
 * The body ClickHouse sends for an exception, `Code: <n>. DB::Exception: <message>. (<NAME>) (version <v> (official
 * build))`, from the engine's text (which has no version, and some of whose errors come wrapped in a second
 * `Code: <n>. DB::Exception:` with a version inside) or from an error of this program.
 */
function exceptionText(e: unknown): { code: number; text: string } {
  const version = ` (version ${engineVersion} (official build))`;
  if (e instanceof ClickHouseException) {
    return { code: e.code, text: `Code: ${e.code}. DB::Exception: ${e.message}. (${ERR_NAMES[e.code] ?? 'UNKNOWN_EXCEPTION'})${version}` };
  }
  let msg = (e instanceof Error ? e.message : String(e)).trim();
  const head = /^Code: (\d+)\. DB::Exception: /.exec(msg);
  if (!head) return { code: ERR.STD_EXCEPTION, text: `Code: ${ERR.STD_EXCEPTION}. DB::Exception: ${msg.replace(/\.$/, '')}. (STD_EXCEPTION)${version}` };
  const code = Number(head[1]);
  const inner = msg.slice(head[0].length);
  if (inner.startsWith(`Code: ${code}. DB::Exception: `)) {
    // "Code: 115. DB::Exception: Code: 115. DB::Exception: <m>. (NAME) (version v). (NAME)" -> the inner exception
    msg = inner.replace(/\. \([A-Z0-9_]+\)$/, '');
  }
  msg = msg.replace(/ \(version [^()]*(\([^()]*\))?[^()]*\)$/, '');
  return { code, text: `${msg}${version}` };
}

// ---- SQL: just enough lexing to find the statement's kind, its FORMAT clause, input() and a second statement ---------

interface Token {
  /** 'word' (bare identifier or keyword), 'quoted' (`x` or "x"), 'string', 'number', 'punct' */
  kind: 'word' | 'quoted' | 'string' | 'number' | 'punct';
  text: string;
  start: number;
  end: number;
  /** parenthesis depth at the token */
  depth: number;
}

/**
 * Lexes `s` (a latin1 view of the bytes, so that offsets are byte offsets) from `from`; `stop` ends the lexing after a
 * token (e.g. at the start of INSERT data). Comments and whitespace are skipped. An unterminated literal ends the text.
 */
function lex(s: string, stop?: (t: Token, tokens: Token[]) => boolean): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let depth = 0;
  const n = s.length;
  const push = (kind: Token['kind'], start: number, end: number): boolean => {
    const text = s.slice(start, end);
    if (kind === 'punct' && (text === ')' || text === ']')) depth = Math.max(0, depth - 1);
    const t: Token = { kind, text, start, end, depth };
    if (kind === 'punct' && (text === '(' || text === '[')) depth++;
    tokens.push(t);
    return stop ? stop(t, tokens) : false;
  };
  while (i < n) {
    const c = s[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v') {
      i++;
    } else if (c === '-' && s[i + 1] === '-') {
      while (i < n && s[i] !== '\n') i++;
    } else if (c === '#' && (s[i + 1] === ' ' || s[i + 1] === '!')) {
      while (i < n && s[i] !== '\n') i++;
    } else if (c === '/' && s[i + 1] === '*') {
      let d = 0;
      do {
        if (s[i] === '/' && s[i + 1] === '*') {
          d++;
          i += 2;
        } else if (s[i] === '*' && s[i + 1] === '/') {
          d--;
          i += 2;
        } else i++;
      } while (i < n && d > 0);
    } else if (c === "'" || c === '"' || c === '`') {
      const start = i++;
      while (i < n) {
        if (s[i] === '\\') i += 2;
        else if (s[i] === c && s[i + 1] === c) i += 2;
        else if (s[i] === c) break;
        else i++;
      }
      i = Math.min(n, i + 1);
      if (push(c === "'" ? 'string' : 'quoted', start, i)) break;
    } else if (c === '$' && /^\$[A-Za-z0-9_]*\$/.test(s.slice(i, i + 64))) {
      const tag = /^\$[A-Za-z0-9_]*\$/.exec(s.slice(i, i + 64))![0];
      const close = s.indexOf(tag, i + tag.length);
      const start = i;
      i = close < 0 ? n : close + tag.length;
      if (push('string', start, i)) break;
    } else if (/[A-Za-z_\u0080-\u00ff]/.test(c)) {
      const start = i;
      while (i < n && /[A-Za-z0-9_$\u0080-\u00ff]/.test(s[i]!)) i++;
      if (push('word', start, i)) break;
    } else if (/[0-9]/.test(c)) {
      const start = i;
      while (i < n && /[0-9A-Za-z_.]/.test(s[i]!)) {
        if ((s[i] === 'e' || s[i] === 'E') && (s[i + 1] === '-' || s[i + 1] === '+')) i++;
        i++;
      }
      if (push('number', start, i)) break;
    } else {
      const start = i;
      i += /^(::|->|<=|>=|!=|<>|==|\|\|)/.test(s.slice(i, i + 2)) ? 2 : 1;
      if (push('punct', start, i)) break;
    }
  }
  return tokens;
}

const upper = (t: Token | undefined): string => (t?.kind === 'word' ? t.text.toUpperCase() : '');

/** the name of a format token (a bare word, or a quoted one) */
const formatName = (t: Token): string => (t.kind === 'word' ? t.text : t.text.slice(1, -1));

type Kind = 'select' | 'insert' | 'set' | 'use' | 'other';
const SELECT_LIKE = new Set(['SELECT', 'WITH', 'SHOW', 'DESCRIBE', 'DESC', 'EXISTS', 'EXPLAIN', 'CHECK', 'VALUES', 'FROM', 'TABLE']);

function kindOf(tokens: Token[]): Kind {
  let k = 0;
  while (tokens[k]?.text === '(') k++;
  const w = upper(tokens[k]);
  if (w === 'INSERT') return 'insert';
  if (w === 'SET') return 'set';
  if (w === 'USE') return 'use';
  if (SELECT_LIKE.has(w)) return 'select';
  return 'other';
}

/** the last top-level `FORMAT <name>` (not the format() table function) */
function formatClause(tokens: Token[]): { index: number; name: string } | undefined {
  for (let k = tokens.length - 2; k >= 0; k--) {
    const t = tokens[k]!;
    const next = tokens[k + 1]!;
    if (t.depth === 0 && upper(t) === 'FORMAT' && (next.kind === 'word' || next.kind === 'quoted') && tokens[k + 2]?.text !== '(') return { index: k, name: formatName(next) };
  }
  return undefined;
}

/** the settings a `SET a = 1, b = 'x'` statement changes */
function setNames(tokens: Token[]): string[] {
  return tokens.filter((t, k) => k > 0 && t.depth === 0 && t.kind === 'word' && tokens[k + 1]?.text === '=' && (tokens[k - 1]!.text === ',' || upper(tokens[k - 1]) === 'SET')).map((t) => t.text);
}

/** a `;` followed by another statement: the HTTP interface runs one statement per request */
function checkSingleStatement(tokens: Token[]): void {
  const semi = tokens.findIndex((t) => t.text === ';');
  if (semi >= 0 && tokens.slice(semi + 1).some((t) => t.text !== ';')) {
    throw new ClickHouseException(ERR.SYNTAX_ERROR, `Syntax error (Multi-statements are not allowed): failed at position ${tokens[semi]!.start + 1} (end of query)`);
  }
}

/** where the data of an INSERT starts: after `FORMAT <name>` or `VALUES`; the first newline after it is not data */
function insertSplit(text: string): { prefixEnd: number; dataStart: number; format: string; tokens: Token[] } | undefined {
  let found: { end: number; format: string } | undefined;
  const tokens = lex(text, (t, all) => {
    const prev = all[all.length - 2];
    if (t.depth === 0 && (t.kind === 'word' || t.kind === 'quoted') && upper(prev) === 'FORMAT' && prev!.depth === 0) {
      found = { end: t.end, format: formatName(t) };
      return true;
    }
    if (t.depth === 0 && upper(t) === 'VALUES' && !['FROM', 'JOIN'].includes(upper(prev)) && prev?.text !== ',' && kindOf(all) === 'insert') {
      found = { end: t.end, format: 'Values' };
      return true;
    }
    return false;
  });
  if (!found) return undefined;
  let d = found.end;
  while (d < text.length && (text[d] === ' ' || text[d] === '\t')) d++;
  if (text[d] === '\r' && text[d + 1] === '\n') d += 2;
  else if (text[d] === '\n') d++;
  return { prefixEnd: found.end, dataStart: d, format: found.format, tokens };
}

// ---- formats ---------------------------------------------------------------------------------------------------------

function contentType(format: string): string {
  const f = format.toLowerCase();
  if (f.startsWith('tabseparated') || f.startsWith('tsv')) return 'text/tab-separated-values; charset=UTF-8';
  if (f === 'csv') return 'text/csv; charset=UTF-8; header=absent';
  if (f.startsWith('csvwith')) return 'text/csv; charset=UTF-8; header=present';
  if (['json', 'jsoncompact', 'jsonstrings', 'jsoncompactstrings', 'jsoncolumns', 'jsoncompactcolumns', 'jsoncolumnswithmetadata', 'jsonobjecteachrow'].includes(f)) return 'application/json; charset=UTF-8';
  if (f === 'xml') return 'application/xml; charset=UTF-8';
  if (/^(rowbinary|native|parquet|arrow|arrowstream|orc|avro|protobuf|protobufsingle|msgpack|capnproto|bson|npy)/.test(f)) return 'application/octet-stream';
  return 'text/plain; charset=UTF-8';
}

// ---- Native: blocks for the client's protocol revision ---------------------------------------------------------------

// The engine writes Native as for a client of revision 0 (clickhouse-local's own output): a block is the number of
// columns and rows, then per column its name, type and data. A server writes Native for the revision an HTTP client
// gives in client_protocol_version (clickhouse-go sends it): from revision 1 each block starts with its BlockInfo, and
// from DBMS_MIN_REVISION_WITH_CUSTOM_SERIALIZATION each column's type is followed by a has-custom-serialization byte
// (0: the engine's revision-0 output has no sparse columns). The blocks are re-framed, which needs each column's data
// skipped by its type.

const DBMS_MIN_REVISION_WITH_CUSTOM_SERIALIZATION = 54454;
/** BlockInfo as ClickHouse writes it: field 1 is_overflows = false, field 2 bucket_num = -1, field 0 (the end) */
const BLOCK_INFO = Buffer.from([0x01, 0x00, 0x02, 0xff, 0xff, 0xff, 0xff, 0x00]);

type NativeType =
  | { kind: 'fixed'; size: number }
  | { kind: 'string' }
  | { kind: 'array'; of: NativeType }
  | { kind: 'tuple'; of: NativeType[] }
  | { kind: 'nullable'; of: NativeType }
  | { kind: 'lowcardinality'; of: NativeType };

const FIXED_SIZE: Record<string, number> = {
  UInt8: 1, Int8: 1, Bool: 1, Enum8: 1, Nothing: 1,
  UInt16: 2, Int16: 2, Date: 2, Enum16: 2, BFloat16: 2,
  UInt32: 4, Int32: 4, Float32: 4, DateTime: 4, Date32: 4, IPv4: 4, Time: 4, Decimal32: 4,
  UInt64: 8, Int64: 8, Float64: 8, DateTime64: 8, Time64: 8, Decimal64: 8,
  UInt128: 16, Int128: 16, UUID: 16, IPv6: 16, Decimal128: 16,
  UInt256: 32, Int256: 32, Decimal256: 32,
};
const GEO: Record<string, string> = {
  Point: 'Tuple(Float64, Float64)', Ring: 'Array(Point)', LineString: 'Array(Point)', Polygon: 'Array(Ring)', MultiLineString: 'Array(LineString)', MultiPolygon: 'Array(Polygon)',
};

/** the top-level, comma-separated arguments of a type's parentheses */
function typeArgs(s: string): string[] {
  const args: string[] = [];
  let depth = 0;
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === "'" || c === '`' || c === '"') {
      for (i++; i < s.length && s[i] !== c; i++) if (s[i] === '\\') i++;
    } else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      args.push(s.slice(from, i).trim());
      from = i + 1;
    }
  }
  args.push(s.slice(from).trim());
  return args.filter((a) => a !== '');
}

/** a named element of Tuple or Nested (`key String`) without its name */
const elementType = (a: string): string => /^(?:`(?:[^`\\]|\\.)*`|[A-Za-z_][A-Za-z0-9_.]*)\s+(\S[\s\S]*)$/.exec(a)?.[1] ?? a;

function nativeType(name: string): NativeType {
  const t = name.trim();
  const open = t.indexOf('(');
  const head = open < 0 ? t : t.slice(0, open);
  const args = open < 0 ? [] : typeArgs(t.slice(open + 1, t.lastIndexOf(')')));
  if (head in GEO) return nativeType(GEO[head]!);
  if (head.startsWith('Interval')) return { kind: 'fixed', size: 8 };
  if (head in FIXED_SIZE) return { kind: 'fixed', size: FIXED_SIZE[head]! };
  switch (head) {
    case 'String':
      return { kind: 'string' };
    case 'FixedString':
      return { kind: 'fixed', size: Number(args[0]) };
    case 'Decimal': {
      const p = Number(args[0]);
      return { kind: 'fixed', size: p <= 9 ? 4 : p <= 18 ? 8 : p <= 38 ? 16 : 32 };
    }
    case 'Array':
      return { kind: 'array', of: nativeType(args[0]!) };
    case 'Nested':
      return { kind: 'array', of: { kind: 'tuple', of: args.map((a) => nativeType(elementType(a))) } };
    case 'Tuple':
      return { kind: 'tuple', of: args.map((a) => nativeType(elementType(a))) };
    case 'Map':
      return { kind: 'array', of: { kind: 'tuple', of: [nativeType(args[0]!), nativeType(args[1]!)] } };
    case 'Nullable':
      return { kind: 'nullable', of: nativeType(args[0]!) };
    case 'LowCardinality':
      return { kind: 'lowcardinality', of: nativeType(args[0]!) };
    case 'SimpleAggregateFunction':
      return nativeType(args[args.length - 1]!);
  }
  throw new ClickHouseException(ERR.NOT_IMPLEMENTED, `The test server cannot write columns of type ${t} in Native format for client_protocol_version > 0`);
}

class NativeReader {
  pos = 0;
  constructor(private readonly b: Buffer) {}
  get done(): boolean {
    return this.pos >= this.b.length;
  }
  private need(n: number): void {
    if (this.pos + n > this.b.length) throw new ClickHouseException(ERR.STD_EXCEPTION, `Native output of the engine ends inside a block (at byte ${this.pos} of ${this.b.length})`);
  }
  varint(): number {
    let v = 0;
    let mul = 1;
    for (;;) {
      this.need(1);
      const c = this.b[this.pos++]!;
      v += (c & 0x7f) * mul;
      if (c < 0x80) return v;
      mul *= 128;
    }
  }
  u64(): number {
    this.need(8);
    const v = this.b.readBigUInt64LE(this.pos);
    this.pos += 8;
    return Number(v);
  }
  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }
  string(): string {
    const n = this.varint();
    this.need(n);
    const s = this.b.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
  /** the last of `rows` UInt64 array offsets */
  lastOffset(rows: number): number {
    this.need(rows * 8);
    const last = rows ? Number(this.b.readBigUInt64LE(this.pos + (rows - 1) * 8)) : 0;
    this.pos += rows * 8;
    return last;
  }
}

/** the state prefixes of a column's streams (LowCardinality's key serialization version) */
function skipPrefix(r: NativeReader, t: NativeType): void {
  if (t.kind === 'lowcardinality') r.skip(8);
  else if (t.kind === 'array' || t.kind === 'nullable') skipPrefix(r, t.of);
  else if (t.kind === 'tuple') for (const e of t.of) skipPrefix(r, e);
}

function skipData(r: NativeReader, t: NativeType, rows: number): void {
  switch (t.kind) {
    case 'fixed':
      return r.skip(rows * t.size);
    case 'string':
      for (let i = 0; i < rows; i++) r.skip(r.varint());
      return;
    case 'array':
      return skipData(r, t.of, r.lastOffset(rows));
    case 'tuple':
      for (const e of t.of) skipData(r, e, rows);
      return;
    case 'nullable':
      r.skip(rows);
      return skipData(r, t.of, rows);
    case 'lowcardinality': {
      // granules of: UInt64 index type and flags, [UInt64 keys, the keys (not Nullable)], UInt64 indexes, the indexes
      const keys = t.of.kind === 'nullable' ? t.of.of : t.of;
      for (let done = 0; done < rows; ) {
        const flags = r.u64();
        if (flags & (1 << 8)) throw new ClickHouseException(ERR.NOT_IMPLEMENTED, 'LowCardinality with a global dictionary in Native output');
        if (flags & (1 << 9)) skipData(r, keys, r.u64());
        const n = r.u64();
        r.skip(n * [1, 2, 4, 8][flags & 0xff]!);
        done += n;
        if (n === 0) break;
      }
      return;
    }
  }
}

/** the engine's revision-0 Native output as a server writes it for a client of `revision` */
function nativeForRevision(data: Buffer, revision: number): Buffer {
  if (!(revision > 0) || data.length === 0) return data;
  const parts: Buffer[] = [];
  const r = new NativeReader(data);
  const custom = revision >= DBMS_MIN_REVISION_WITH_CUSTOM_SERIALIZATION ? Buffer.of(0) : undefined;
  while (!r.done) {
    const start = r.pos;
    const columns = r.varint();
    const rows = r.varint();
    parts.push(BLOCK_INFO, data.subarray(start, r.pos));
    for (let c = 0; c < columns; c++) {
      const head = r.pos;
      r.string();
      const type = nativeType(r.string());
      parts.push(data.subarray(head, r.pos));
      if (custom) parts.push(custom);
      const from = r.pos;
      if (rows) {
        skipPrefix(r, type);
        skipData(r, type, rows);
      }
      parts.push(data.subarray(from, r.pos));
    }
  }
  return Buffer.concat(parts);
}

// ---- settings --------------------------------------------------------------------------------------------------------

/** URL parameters that are not settings (ClickHouse's reserved names, and what this program reads itself) */
const RESERVED = new Set([
  'query', 'database', 'default_format', 'compress', 'decompress', 'user', 'password', 'quota_key', 'query_id', 'stacktrace',
  'buffer_size', 'wait_end_of_query', 'session_id', 'session_timeout', 'session_check', 'client_protocol_version', 'close_session', 'role',
]);
/** settings of the HTTP layer: read here (enable_http_compression, http_zlib_compression_level) or without an effect on a buffered answer */
const HTTP_LAYER = new Set([
  'enable_http_compression', 'http_zlib_compression_level', 'send_progress_in_http_headers', 'http_headers_progress_interval_ms', 'http_response_buffer_size',
  'http_wait_end_of_query', 'http_write_exception_in_output_format', 'cancel_http_readonly_queries_on_client_close', 'add_http_cors_header',
  'http_native_compression_disable_checksumming_on_decompress',
]);

const sqlString = (v: string): string => `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
const sqlIdent = (v: string): string => `\`${v.replace(/\\/g, '\\\\').replace(/`/g, '\\`')}\``;

// ---- the engine session, one statement at a time ---------------------------------------------------------------------

const MAX_WAITING = 1000;

class Engine {
  private tail: Promise<unknown> = Promise.resolve();
  private waiting = 0;
  private running = 0;
  /** the settings the session has changed from ClickHouse's defaults, after start: what a request's SET is undone to */
  private baseline = new Map<string, string>();
  timezone = 'UTC';
  private inputSeq = 0;

  constructor(
    private readonly session: ChdbSession,
    private readonly native: ChdbNative,
    private readonly tmpDir: string,
  ) {}

  get idle(): boolean {
    return this.waiting === 0 && this.running === 0;
  }

  /** runs fn once the statements before it are done; refuses when MAX_WAITING requests wait already */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.waiting >= MAX_WAITING) {
      return Promise.reject(new ClickHouseException(ERR.TOO_MANY_SIMULTANEOUS_QUERIES, `Too many simultaneous queries: ${this.waiting} requests wait for the engine already (the limit of the test server)`));
    }
    this.waiting++;
    const run = this.tail.then(async () => {
      this.waiting--;
      this.running++;
      try {
        return await fn();
      } finally {
        this.running--;
      }
    });
    this.tail = run.catch(() => undefined);
    return run;
  }

  query(sql: string, format = 'TabSeparated', params?: Record<string, string>): Promise<EngineResult> {
    return params && Object.keys(params).length ? this.native.QueryAsyncConnection(this.session.connection, sql, format, params) : this.native.QueryAsyncConnection(this.session.connection, sql, format);
  }

  async text(sql: string): Promise<string> {
    return Buffer.from((await this.query(sql, 'TabSeparated')).bytes).toString('utf8');
  }

  async start(): Promise<void> {
    // as a server: a bare expression is not a query (clickhouse-local's implicit_select)
    await this.query('SET implicit_select = 0');
    engineVersion = (await this.text('SELECT version()')).trim();
    this.timezone = (await this.text('SELECT timezone()')).trim();
    const names = Object.values(STATUS_BY_NAME).flat();
    const codes = await this.text(`SELECT number, errorCodeToName(number) FROM numbers(2000) WHERE errorCodeToName(number) IN (${names.map(sqlString).join(', ')})`);
    for (const line of codes.split('\n').filter(Boolean)) {
      const [code, name] = line.split('\t');
      const status = Object.entries(STATUS_BY_NAME).find(([, ns]) => ns.includes(name!))?.[0];
      if (status) statusByCode.set(Number(code), Number(status));
    }
    this.baseline = await this.changedSettings();
  }

  private async changedSettings(): Promise<Map<string, string>> {
    const rows = (await this.text('SELECT name, value FROM system.settings WHERE changed')).split('\n').filter(Boolean);
    return new Map(rows.map((r) => r.split('\t') as [string, string]));
  }

  /**
   * The session's settings named back to the baseline, and its database back to default, after a request that changed
   * them. By name, without a query of system.settings: a setting just changed (say max_result_rows) can make any
   * query fail.
   */
  async restore(names: readonly string[], database: boolean): Promise<void> {
    const back = [...new Set(names)].map((n) => (this.baseline.has(n) ? `${n} = ${sqlString(this.baseline.get(n)!)}` : `${n} = DEFAULT`));
    if (back.length) await this.query(`SET ${back.join(', ')}`);
    if (database) await this.query('USE default');
  }

  /** a file for the data of an INSERT ... FROM input(...), removed by the caller */
  inputFile(): string {
    mkdirSync(this.tmpDir, { recursive: true });
    return join(this.tmpDir, `input-${process.pid}-${++this.inputSeq}.data`);
  }

  close(): void {
    this.session.close();
  }
}

// ---- requests --------------------------------------------------------------------------------------------------------

const MAX_BODY = 1024 * 1024 * 1024;

interface Summary {
  read_rows: number;
  read_bytes: number;
  written_rows: number;
  written_bytes: number;
  total_rows_to_read: number;
  result_rows: number;
  result_bytes: number;
  elapsed_ns: number;
}

interface Answer {
  body: Buffer;
  format?: string;
  summary: Summary;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY) throw new ClickHouseException(ERR.QUERY_IS_TOO_LARGE, `The request body is ${declared} bytes, more than the ${MAX_BODY} the test server takes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY) throw new ClickHouseException(ERR.QUERY_IS_TOO_LARGE, `The request body is more than the ${MAX_BODY} bytes the test server takes`);
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

async function decodeBody(body: Buffer, encoding: string | undefined): Promise<Buffer> {
  const enc = (encoding ?? '').trim().toLowerCase();
  if (!enc || enc === 'identity' || body.length === 0) return body;
  const opts = { maxOutputLength: MAX_BODY };
  try {
    if (enc === 'gzip' || enc === 'x-gzip') return await promisify(zlib.gunzip)(body, opts);
    if (enc === 'deflate') return await promisify(zlib.inflate)(body, opts).catch(() => promisify(zlib.inflateRaw)(body, opts));
    if (enc === 'br') return await promisify(zlib.brotliDecompress)(body, opts);
    if (enc === 'zstd') return await promisify(zlib.zstdDecompress)(body, opts);
  } catch (e) {
    throw new ClickHouseException(ERR.CANNOT_DECOMPRESS, `Cannot decompress the request body (Content-Encoding: ${enc}): ${e instanceof Error ? e.message : String(e)}`);
  }
  throw new ClickHouseException(ERR.NOT_IMPLEMENTED, `The test server does not take Content-Encoding: ${enc} (gzip, deflate, br and zstd only)`);
}

function credentials(req: IncomingMessage, url: URL): { user: string; password: string } {
  const hUser = req.headers['x-clickhouse-user'];
  const hKey = req.headers['x-clickhouse-key'];
  if (typeof hUser === 'string' || typeof hKey === 'string') return { user: typeof hUser === 'string' && hUser ? hUser : 'default', password: typeof hKey === 'string' ? hKey : '' };
  const auth = req.headers.authorization;
  if (auth && /^basic /i.test(auth)) {
    const plain = Buffer.from(auth.slice(6).trim(), 'base64').toString('utf8');
    const colon = plain.indexOf(':');
    return colon < 0 ? { user: plain || 'default', password: '' } : { user: plain.slice(0, colon) || 'default', password: plain.slice(colon + 1) };
  }
  return { user: url.searchParams.get('user') || 'default', password: url.searchParams.get('password') ?? '' };
}

const same = (a: string, b: string): boolean => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

function header(req: IncomingMessage, name: string): string {
  const v = req.headers[name];
  return typeof v === 'string' ? v : '';
}

function flag(v: string | null): boolean {
  return v !== null && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
}

/** Runs the request's statement (with its settings and database) on the engine. */
async function execute(engine: Engine, req: IncomingMessage, url: URL, body: Buffer): Promise<Answer> {
  const method = req.method ?? 'GET';
  const params = url.searchParams;
  const urlQuery = params.get('query') ?? '';
  if (flag(params.get('compress')) || flag(params.get('decompress'))) {
    throw new ClickHouseException(ERR.NOT_IMPLEMENTED, "The test server does not implement ClickHouse's own compression of HTTP bodies (compress=1, decompress=1); use Content-Encoding / enable_http_compression");
  }

  // the statement text and, for an INSERT with data, the data: ClickHouse reads the URL's query, a newline, then the body
  let sql: string;
  let data: Buffer | undefined;
  let insertFormat = '';
  let tokens: Token[];
  const head = urlQuery ? undefined : body.subarray(0, 1024 * 1024).toString('latin1');
  const split = urlQuery ? insertSplit(urlQuery) : insertSplit(head!);
  if (urlQuery && split && kindOf(split.tokens) === 'insert') {
    sql = urlQuery.slice(0, split.prefixEnd);
    const rest = urlQuery.slice(split.dataStart);
    data = rest ? Buffer.concat([Buffer.from(rest + '\n'), body]) : body;
    insertFormat = split.format;
    tokens = split.tokens;
  } else if (!urlQuery && split && kindOf(split.tokens) === 'insert') {
    sql = body.subarray(0, split.prefixEnd).toString('utf8');
    data = body.subarray(split.dataStart);
    insertFormat = split.format;
    tokens = split.tokens;
  } else {
    sql = urlQuery ? (body.length ? `${urlQuery}\n${body.toString('utf8')}` : urlQuery) : body.toString('utf8');
    const joined = insertSplit(Buffer.from(sql, 'utf8').toString('latin1'));
    if (joined && kindOf(joined.tokens) === 'insert') {
      // the statement's head in the URL and its FORMAT (or VALUES) in the body
      const bytes = Buffer.from(sql, 'utf8');
      sql = bytes.subarray(0, joined.prefixEnd).toString('utf8');
      data = bytes.subarray(joined.dataStart);
      insertFormat = joined.format;
      tokens = joined.tokens;
    } else {
      tokens = lex(Buffer.from(sql, 'utf8').toString('latin1'));
    }
  }
  if (!sql.trim()) throw new ClickHouseException(ERR.SYNTAX_ERROR, 'Empty query');
  if (data === undefined) checkSingleStatement(tokens);
  const kind = kindOf(tokens);
  if (method === 'GET' && data !== undefined && data.length) throw new ClickHouseException(ERR.BAD_ARGUMENTS, 'INSERT data needs a POST request');

  // the rest of the URL: {name:Type} values, settings
  const bound: Record<string, string> = {};
  const settings: [string, string][] = [];
  for (const [k, v] of params) {
    if (k.startsWith('param_')) bound[k.slice('param_'.length)] = v;
    else if (k && !RESERVED.has(k) && !HTTP_LAYER.has(k)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new ClickHouseException(ERR.UNKNOWN_SETTING, `Unknown setting '${k}'`);
      settings.push([k, v]);
    }
  }
  const db = params.get('database') || header(req, 'x-clickhouse-database');
  const defaultFormat = params.get('default_format') || header(req, 'x-clickhouse-format') || 'TabSeparated';
  const outFormat = kind === 'select' ? (formatClause(tokens)?.name ?? defaultFormat) : undefined;
  const protocolRevision = Number(params.get('client_protocol_version') ?? 0);
  if (!Number.isInteger(protocolRevision) || protocolRevision < 0) throw new ClickHouseException(ERR.BAD_ARGUMENTS, `client_protocol_version ${params.get('client_protocol_version')} is not a revision`);

  return engine.exclusive(async () => {
    const t0 = process.hrtime.bigint();
    const changed = [...settings.map(([k]) => k), ...(kind === 'set' ? setNames(tokens) : [])];
    const changesDatabase = (db !== '' && db !== 'default') || kind === 'use';
    try {
      if (db && db !== 'default') await engine.query(`USE ${sqlIdent(db)}`);
      if (settings.length) await engine.query(`SET ${settings.map(([k, v]) => `${k} = ${sqlString(v)}`).join(', ')}`);
      const summary: Summary = { read_rows: 0, read_bytes: 0, written_rows: 0, written_bytes: 0, total_rows_to_read: 0, result_rows: 0, result_bytes: 0, elapsed_ns: 0 };
      let out: Buffer = Buffer.alloc(0);
      if (data !== undefined && Object.keys(bound).length === 0) {
        const r = await insertData(engine, sql, tokens, insertFormat, data);
        summary.read_rows = summary.written_rows = r.rowsWritten;
        summary.read_bytes = summary.written_bytes = r.bytesWritten;
      } else {
        const text = data !== undefined ? `${sql}\n${data.toString('utf8')}` : sql;
        const r = await engine.query(text, outFormat ?? 'TabSeparated', bound);
        out = Buffer.from(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength);
        if (outFormat?.toLowerCase() === 'native' && protocolRevision > 0) out = nativeForRevision(out, protocolRevision);
        summary.read_rows = r.rowsRead;
        summary.read_bytes = r.bytesRead;
        if (kind === 'select') {
          summary.result_rows = r.rowsRead;
          summary.result_bytes = out.length;
        }
      }
      summary.elapsed_ns = Number(process.hrtime.bigint() - t0);
      return { body: out, ...(outFormat ? { format: outFormat } : {}), summary };
    } finally {
      if (changed.length || changesDatabase) {
        await engine.restore(changed, changesDatabase).catch((e: unknown) => process.stderr.write(`clickhouse-front: could not undo the settings of a request: ${exceptionText(e).text}\n`));
      }
    }
  });
}

/**
 * INSERT data read by the engine from a file that holds it: `FROM INFILE '<file>'` before the statement's SETTINGS and
 * FORMAT (or VALUES), and input() read with file(). Not the engine's own insert of data bytes: it parses the data as
 * the rest of a script, where an empty line ends an INSERT's data, so that "\n\n" inside the data (an empty TSV
 * string, a blank line, any binary block that holds those bytes) would silently cut it.
 */
async function insertData(engine: Engine, sql: string, tokens: Token[], format: string, data: Buffer): Promise<EngineInsertResult> {
  const input = tokens.findIndex((t, k) => t.kind === 'word' && t.text.toLowerCase() === 'input' && tokens[k + 1]?.text === '(');
  if (input < 0) {
    // the data clause, `FORMAT <name>` or `VALUES` (the last tokens), and the statement's SETTINGS before it
    const values = format === 'Values' && upper(tokens[tokens.length - 1]) === 'VALUES';
    const clause = tokens.length - (values ? 1 : 2);
    const settings = tokens.findIndex((t, k) => k < clause && t.depth === 0 && upper(t) === 'SETTINGS');
    const at = settings >= 0 ? settings : clause;
    const bytes = Buffer.from(sql, 'utf8').toString('latin1');
    const file = engine.inputFile();
    writeFileSync(file, data);
    try {
      const rewritten = `${bytes.slice(0, tokens[at]!.start).trimEnd()} FROM INFILE ${sqlString(file)} COMPRESSION 'none' ${bytes.slice(tokens[at]!.start, tokens[clause]!.start)}${values ? 'FORMAT Values' : bytes.slice(tokens[clause]!.start)}`;
      const r = await engine.query(Buffer.from(rewritten, 'latin1').toString('utf8'));
      // the engine counts no written rows for a statement; the rows of the data it read stand for them
      return { elapsed: r.elapsed, rowsWritten: r.rowsRead, bytesWritten: r.bytesRead };
    } finally {
      rmSync(file, { force: true });
    }
  }
  if (format === 'Values') throw new ClickHouseException(ERR.SYNTAX_ERROR, 'input() needs a FORMAT clause');
  // input('structure') -> file('<data file>', '<format>', 'structure'); the FORMAT clause (the last tokens) goes
  const open = tokens[input + 1]!;
  const close = tokens.findIndex((t, k) => k > input + 1 && t.text === ')' && t.depth === open.depth);
  const fmt = formatClause(tokens);
  if (close < 0 || !fmt) throw new ClickHouseException(ERR.SYNTAX_ERROR, 'input(...) without its closing parenthesis or FORMAT');
  const bytes = Buffer.from(sql, 'utf8').toString('latin1');
  const args = bytes.slice(open.end, tokens[close]!.start).trim();
  const file = engine.inputFile();
  writeFileSync(file, data);
  try {
    const rewritten = bytes.slice(0, tokens[input]!.start) + `file(${sqlString(file)}, ${sqlString(format)}${args ? `, ${args}` : ''})` + bytes.slice(tokens[close]!.end, tokens[fmt.index]!.start);
    const r = await engine.query(Buffer.from(rewritten, 'latin1').toString('utf8'));
    // the engine counts no written rows for a statement; the rows of the data it read stand for them
    return { elapsed: r.elapsed, rowsWritten: r.rowsRead, bytesWritten: r.bytesRead };
  } finally {
    rmSync(file, { force: true });
  }
}

function acceptedEncoding(req: IncomingMessage): 'gzip' | 'deflate' | 'br' | 'zstd' | undefined {
  const accept = String(req.headers['accept-encoding'] ?? '').toLowerCase();
  const offered = accept.split(',').map((p) => p.trim().split(';')[0]);
  for (const enc of ['gzip', 'deflate', 'zstd', 'br'] as const) if (offered.includes(enc)) return enc;
  return undefined;
}

async function encodeBody(body: Buffer, enc: 'gzip' | 'deflate' | 'br' | 'zstd', level: number | undefined): Promise<Buffer> {
  const zopts = level !== undefined && Number.isInteger(level) ? { level: Math.max(1, Math.min(9, level)) } : {};
  if (enc === 'gzip') return promisify(zlib.gzip)(body, zopts);
  if (enc === 'deflate') return promisify(zlib.deflate)(body, zopts);
  if (enc === 'br') return promisify(zlib.brotliCompress)(body);
  return promisify(zlib.zstdCompress)(body);
}

function summaryHeader(s: Summary): string {
  return JSON.stringify(Object.fromEntries(Object.entries(s).map(([k, v]) => [k, String(v)])));
}

function serve(engine: Engine, o: Options, displayName: string) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const queryId = url.searchParams.get('query_id') || (typeof req.headers['x-clickhouse-query-id'] === 'string' ? req.headers['x-clickhouse-query-id'] : '') || randomUUID();
    const base = { 'X-ClickHouse-Server-Display-Name': displayName };
    const fail = (e: unknown, queryIdHeader: boolean): void => {
      const { code, text } = exceptionText(e);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      res.writeHead(httpStatus(code), {
        ...base,
        ...(queryIdHeader ? { 'X-ClickHouse-Query-Id': queryId } : {}),
        'X-ClickHouse-Exception-Code': String(code),
        'Content-Type': 'text/plain; charset=UTF-8',
      });
      res.end(`${text}\n`);
    };
    try {
      const path = url.pathname.replace(/\/+$/, '') || '/';
      const noQuery = !url.searchParams.has('query');
      if ((path === '/ping' || path === '/replicas_status') && req.method !== 'POST') {
        res.writeHead(200, { ...base, 'Content-Type': 'text/html; charset=UTF-8' });
        res.end(req.method === 'HEAD' ? undefined : 'Ok.\n');
        return;
      }
      if (path !== '/') {
        req.resume();
        res.writeHead(404, { ...base, 'Content-Type': 'text/plain; charset=UTF-8' });
        res.end(`There is no handle ${url.pathname}\n\nUse / or /ping for health checks.\n`);
        return;
      }
      if ((req.method === 'GET' || req.method === 'HEAD') && noQuery) {
        req.resume();
        res.writeHead(200, { ...base, 'Content-Type': 'text/html; charset=UTF-8' });
        res.end(req.method === 'HEAD' ? undefined : 'Ok.\n');
        return;
      }
      if (req.method !== 'GET' && req.method !== 'POST') {
        req.resume();
        throw new ClickHouseException(ERR.UNSUPPORTED_METHOD, `The test server takes GET and POST, not ${req.method}`);
      }
      const who = credentials(req, url);
      if (!(same(who.user, o.user) && same(who.password, o.password))) {
        req.resume();
        throw new ClickHouseException(ERR.AUTHENTICATION_FAILED, `${who.user}: Authentication failed: password is incorrect, or there is no user with such name`);
      }
      const raw = req.method === 'POST' ? await readBody(req) : (req.resume(), Buffer.alloc(0));
      const body = await decodeBody(raw, req.headers['content-encoding']);
      const answer = await execute(engine, req, url, body);
      const enc = flag(url.searchParams.get('enable_http_compression')) ? acceptedEncoding(req) : undefined;
      const level = url.searchParams.has('http_zlib_compression_level') ? Number(url.searchParams.get('http_zlib_compression_level')) : undefined;
      const out = enc && answer.body.length ? await encodeBody(answer.body, enc, level) : answer.body;
      res.writeHead(200, {
        ...base,
        'X-ClickHouse-Query-Id': queryId,
        ...(answer.format ? { 'X-ClickHouse-Format': answer.format } : {}),
        'X-ClickHouse-Timezone': engine.timezone,
        'X-ClickHouse-Summary': summaryHeader(answer.summary),
        'Content-Type': answer.format ? contentType(answer.format) : 'text/plain; charset=UTF-8',
        ...(enc && answer.body.length ? { 'Content-Encoding': enc } : {}),
        'Content-Length': String(out.length),
      });
      res.end(out);
    } catch (e) {
      // the rest of a refused body is read (and dropped), so that the connection can carry the next request
      if (!req.readableEnded) req.resume();
      fail(e, true);
    }
  };
}

// ---- main ------------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const { chdb, native } = loadChdb();
  mkdirSync(o.data, { recursive: true });
  const session = new chdb.Session(o.data);
  const engine = new Engine(session, native, join(o.data, 'front-input'));
  await engine.start();
  const handler = serve(engine, o, hostname());
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    handler(req, res).catch((e: unknown) => {
      process.stderr.write(`clickhouse-front: request failed: ${e instanceof Error ? e.stack : String(e)}\n`);
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain; charset=UTF-8' });
      res.end();
    });
  };
  const server = o.tlsCert ? createHttpsServer({ cert: readFileSync(o.tlsCert), key: readFileSync(o.tlsKey!) }, onRequest) : createHttpServer(onRequest);
  // as ClickHouse (keep_alive_timeout 10 s): the client reads the Keep-Alive header's timeout
  server.keepAliveTimeout = 10_000;
  server.requestTimeout = 0;
  server.on('clientError', (_e, socket) => socket.destroy());

  let stopping = false;
  const stop = async (why: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`clickhouse-front: stopping (${why})\n`);
    server.close();
    server.closeIdleConnections();
    // the statement that runs (and those waiting) end first: the session is closed on a quiet engine
    const t0 = Date.now();
    while (!engine.idle && Date.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 20));
    server.closeAllConnections();
    engine.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  if (o.parentPid) {
    const parent = o.parentPid;
    setInterval(() => {
      try {
        process.kill(parent, 0);
      } catch {
        void stop(`parent ${parent} is gone`);
      }
    }, 1000).unref();
  }
  process.on('uncaughtException', (e) => process.stderr.write(`clickhouse-front: uncaught: ${e.stack ?? String(e)}\n`));
  process.on('unhandledRejection', (e) => process.stderr.write(`clickhouse-front: unhandled rejection: ${e instanceof Error ? e.stack : String(e)}\n`));

  await new Promise<void>((resolveListen, rejectListen) => {
    server.once('error', rejectListen);
    server.listen(o.port, '127.0.0.1', () => {
      server.off('error', rejectListen);
      resolveListen();
    });
  });
  process.stdout.write(`listening ${o.port}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`clickhouse-front: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
