// Parsing of query parameters into exact nanosecond values. Every number is checked against the range it can take:
// bad input is an InvalidArgumentError naming the parameter and what it accepts (the HTTP layer answers 400).
import { type AttrValue, InvalidArgumentError, MAX_NS, checkDurationNs, checkTimeNs, normalizeTraceId } from '../../storage/api/index.js';
import { decodeSegment } from '../http-guard.js';

/** longest parameter value parsed as a number, time or duration: longer input is refused before any work */
const MAX_NUMBER_CHARS = 64;

const shown = (v: string): string => JSON.stringify(v.length > MAX_NUMBER_CHARS ? `${v.slice(0, MAX_NUMBER_CHARS)}...` : v);

/** the trimmed value, refused when longer than any valid value; `hint` says what is valid */
function bounded(v: string, field: string, hint: string): string {
  const s = v.trim();
  if (s.length > MAX_NUMBER_CHARS) throw new InvalidArgumentError(field, `${shown(v)} is out of range: use ${hint}`);
  return s;
}

const RFC3339 = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/i;

/** RFC 3339 with up to nanosecond precision -> ns since the epoch (within the int64 range of checkTimeNs). */
export function parseTime(v: string, field: string): bigint {
  const m = RFC3339.exec(bounded(v, field, 'an RFC 3339 time from 1677-09-21T00:12:43Z to 2262-04-11T23:47:16Z'));
  if (!m) throw new InvalidArgumentError(field, `${shown(v)} is not an RFC 3339 time such as 2026-11-24T17:00:00.123456789Z`);
  const ms = Date.parse(`${m[1]}${m[3]!.toUpperCase() === 'Z' ? 'Z' : m[3]}`);
  if (Number.isNaN(ms)) throw new InvalidArgumentError(field, `${shown(v)} is not a valid date`);
  return checkTimeNs(BigInt(ms) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0') || '0'), field);
}

const UNITS: Record<string, bigint> = { ns: 1n, us: 1_000n, µs: 1_000n, μs: 1_000n, ms: 1_000_000n, s: 1_000_000_000n, m: 60_000_000_000n, h: 3_600_000_000_000n };

/** A Go duration such as 1.5s, 300ms, 2h45m or 10us -> ns, from 0 to about 292 years (Go's time.Duration). */
export function parseDuration(v: string, field: string): bigint {
  const s = bounded(v, field, 'a duration such as 1.5s, 300ms or 2h45m, at most 2562047h');
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|μs|ms|s|m|h)/gy;
  let total = 0n;
  let matched = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s))) {
    const [int, frac = ''] = m[1]!.split('.');
    const unit = UNITS[m[2]!]!;
    total += BigInt(int!) * unit + (frac ? (BigInt(frac.slice(0, 9).padEnd(9, '0')) * unit) / 1_000_000_000n : 0n);
    matched = re.lastIndex;
  }
  if (!s || matched !== s.length) throw new InvalidArgumentError(field, `${shown(v)} is not a duration such as 1.5s, 300ms or 2h45m`);
  if (total > MAX_NS) throw new InvalidArgumentError(field, `${shown(v)} is too long: at most 2562047h (about 292 years)`);
  return checkDurationNs(total, field);
}

/** A whole number from `min` to `max` (both safe integers). */
export function parseIntParam(v: string, field: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const s = bounded(v, field, `a whole number from ${min} to ${max}`);
  if (!/^\d+$/.test(s)) throw new InvalidArgumentError(field, `${shown(v)} is not a whole number from ${min} to ${max}`);
  const n = Number(s);
  if (n < min || n > max) throw new InvalidArgumentError(field, `${shown(v)} is out of range: use a whole number from ${min} to ${max}`);
  return n;
}

/**
 * An integer count of `unitNs` since the epoch (Jaeger's classic API: microseconds for traces, milliseconds for
 * dependencies) -> ns, from 0 to the int64 ns limit (year 2262).
 */
export function parseEpoch(v: string, field: string, unitNs: bigint, unitName: string): bigint {
  const max = MAX_NS / unitNs;
  const s = bounded(v, field, `${unitName} since the epoch from 0 to ${max}`);
  if (!/^\d+$/.test(s)) throw new InvalidArgumentError(field, `${shown(v)} is not a time in ${unitName} since the epoch (a whole number from 0 to ${max})`);
  const n = BigInt(s);
  if (n > max) throw new InvalidArgumentError(field, `${shown(v)} is out of range: use ${unitName} since the epoch from 0 to ${max} (year 2262)`);
  return n * unitNs;
}

/** A count of `unitNs` (e.g. the classic API's lookback in milliseconds) -> ns, from 0 to the int64 ns limit. */
export function parseUnits(v: string, field: string, unitNs: bigint, unitName: string): bigint {
  const max = MAX_NS / unitNs;
  const s = bounded(v, field, `${unitName} from 0 to ${max}`);
  if (!/^\d+$/.test(s)) throw new InvalidArgumentError(field, `${shown(v)} is not a whole number of ${unitName} from 0 to ${max}`);
  const n = BigInt(s);
  if (n > max) throw new InvalidArgumentError(field, `${shown(v)} is out of range: use ${unitName} from 0 to ${max}`);
  return n * unitNs;
}

/** A path segment, percent-decoded; a malformed escape (`%`, `%zz`) names the segment. */
export function pathSegment(raw: string, field: string): string {
  const s = decodeSegment(raw);
  if (s === undefined) throw new InvalidArgumentError(field, `${shown(raw)} has a malformed percent-escape in the path: encode "%" as %25`);
  return s;
}

const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

/**
 * The trace ID of a path segment: hex (up to 32 digits), or else base64 of 16 or 8 bytes, standard or URL-safe,
 * padded or not, as Jaeger's query API also takes it. A string that is both is hex.
 */
export function traceIdOfPath(raw: string, field: string): string {
  const id = pathSegment(raw, field);
  try {
    return normalizeTraceId(id, field);
  } catch (hexError) {
    // hex, but not an ID (all zeros): that answer stands
    if (/^[0-9a-fA-F]{1,32}$/.test(id)) throw hexError;
    const bytes = base64Bytes(id);
    if (!bytes) throw new InvalidArgumentError(field, `${shown(id)} is not a trace ID: expected up to 32 hex characters, or the base64 of 16 (or 8) bytes`);
    return normalizeTraceId(bytes.toString('hex'), field);
  }
}

/** the 16 or 8 bytes `s` is the base64 of (standard or URL-safe alphabet, padded or not), if it is */
function base64Bytes(s: string): Buffer | undefined {
  if (s.length > 24 || !BASE64.test(s)) return undefined;
  const std = s.replace(/-/g, '+').replace(/_/g, '/');
  const bytes = Buffer.from(std, 'base64');
  // the decoder skips what it cannot read: only an exact round trip is base64
  if ((bytes.length !== 16 && bytes.length !== 8) || bytes.toString('base64').replace(/=+$/, '') !== std.replace(/=+$/, '')) return undefined;
  return bytes;
}

/** First present value among several spellings of one parameter (snake_case and camelCase are both accepted). */
export function pick(q: URLSearchParams, ...names: string[]): string | undefined {
  for (const n of names) {
    const v = q.get(n);
    if (v !== null && v !== '') return v;
  }
  return undefined;
}

/**
 * An attribute filter given as a JSON object (classic `tags`, api_v3 `query.attributes`): values must be strings
 * (numbers and booleans are taken as their text, as Jaeger compares attribute values as strings).
 */
export function parseAttributeJson(json: string, field: string, into: Record<string, AttrValue>): void {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw new InvalidArgumentError(field, 'must be a JSON object of string values, e.g. {"http.status_code":"500"}');
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new InvalidArgumentError(field, 'must be a JSON object of string values, e.g. {"http.status_code":"500"}');
  for (const [k, v] of Object.entries(parsed)) {
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') throw new InvalidArgumentError(`${field}.${k.slice(0, 100)}`, 'must be a string (or a number or boolean), not an object, array or null');
    into[k] = String(v);
  }
}
