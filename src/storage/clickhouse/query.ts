// A search as SQL: the WHERE clause and parameters of a checked TraceQuery over the spans table, with the special
// keys of TraceQuery.attributes. Pure: the reader runs what this renders. Each value is a bound parameter; an
// attribute value is compared in the typed column it can be stored in (an int only where the string is an int as
// OpenTelemetry prints it, a double where it is a double so printed, a bool for true/false), so `idx=7` finds
// int 7 and string "7" but not double 7.5.
import { type CheckedQuery, SPAN_KIND_NAMES, STATUS_NAMES, attrToString } from '../api/index.js';
import type { Params } from './connection.js';
import { searchTerm } from './row-binary.js';
import { LEVEL } from './rows.js';

export interface Where {
  sql: string;
  params: Params;
  /** WITH clause the WHERE clause reads (the stored kinds of the keys searched), if any */
  with?: string;
}

/** name the WITH clause gives the (key, level, type) triples attribute_keys holds for the keys searched */
const STORED = 'stored_keys';

/** attribute keys a search compares with columns of their own, not with the attribute maps */
const SPECIAL_KEYS = new Set(['error', 'span.kind', 'span.status', 'scope.name', 'scope.version']);

const INT = /^-?(0|[1-9][0-9]{0,18})$/;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** `want` as the int64 a stored int prints as, if it is one */
export function asInt(want: string): bigint | undefined {
  if (!INT.test(want)) return undefined;
  const v = BigInt(want);
  return v >= INT64_MIN && v <= INT64_MAX ? v : undefined;
}

/** `want` as the finite double a stored double prints as, if it is one */
export function asDouble(want: string): number | undefined {
  if (want.trim() !== want || want === '') return undefined;
  const v = Number(want);
  return Number.isFinite(v) && attrToString(v) === want ? v : undefined;
}

/**
 * kind and status names a search may give as their OTLP numbers, compared as every backend compares them: case
 * ignored, the enum prefix optional ('server', 'SPAN_KIND_SERVER'); '' is the unspecified kind
 */
const numberOf =
  (names: Record<number, string>, prefix: RegExp) =>
  (want: string): number | undefined => {
    const n = want.toLowerCase().replace(prefix, '');
    const hit = Object.entries(names).find(([, name]) => name.toLowerCase() === n);
    return hit ? Number(hit[0]) : undefined;
  };
const kindOf = numberOf(SPAN_KIND_NAMES, /^span_kind_/);
const statusOf = numberOf(STATUS_NAMES, /^status_code_/);

/**
 * `map[key] = value`; a missing key reads as the type's default ('', 0, false), so only when `value` is that default
 * must the key be there too (mapContains reads the keys a second time: skipped when it cannot change the answer)
 */
const entryIs = (map: string, k: string, v: string, isDefault: boolean): string => (isDefault ? `(mapContains(${map}, ${k}) AND ${map}[${k}] = ${v})` : `${map}[${k}] = ${v}`);

/**
 * typed comparisons of `key = want` in the maps of one level ('attr' or 'res'). With the keys' stored kinds known
 * (`stored`), each comparison runs only where that key was ever stored at that level with that type: the others
 * fold to 0 before the query reads a row, so their maps are not read and their bloom filters do not keep granules.
 */
function typedMatch(prefix: 'attr' | 'res', k: string, w: string, want: string, add: (type: string, v: string | bigint | number | boolean) => string, stored: boolean): string[] {
  const level = prefix === 'attr' ? 1 : 2;
  const out: string[] = [];
  const push = (type: number, cond: string): void => {
    out.push(stored ? `if(has(${STORED}, (${k}, ${level}, ${type})), ${cond}, 0)` : cond);
  };
  push(1, entryIs(`${prefix}_str`, k, w, want === ''));
  const i = asInt(want);
  if (i !== undefined) push(2, entryIs(`${prefix}_int`, k, add('Int64', i), i === 0n));
  const d = asDouble(want);
  if (d !== undefined) push(3, entryIs(`${prefix}_dbl`, k, add('Float64', d), d === 0));
  if (want === 'true' || want === 'false') push(4, entryIs(`${prefix}_bool`, k, want, want === 'false'));
  return out;
}

/** whether search_terms holds `key = want` at one of the levels (one `hasAny`, which the bloom filter serves) */
const searched = (levels: string, key: string, want: string, add: (type: string, v: readonly string[]) => string): string =>
  `hasAny(search_terms, ${add('Array(String)', [...levels].map((l) => searchTerm(l, key, want)))})`;

/**
 * The WHERE clause of a search: every predicate must hold on one span (the rows are spans). Unknown kind or
 * status names and error values other than true/false match nothing, as on every backend. With `keysTable` (the
 * attribute_keys table), a WITH clause reads which levels and types the attribute keys searched were stored with
 * (for the service searched, or any), and only those typed maps are compared: attribute_keys is filled by a view
 * on the same inserts as spans, so a key a span holds is there.
 */
export function whereOf(q: CheckedQuery, keysTable?: string): Where {
  const params: Params = {};
  const conds: string[] = [];
  let n = 0;
  const add = (type: string, v: string | bigint | number | boolean | readonly string[]): string => {
    const name = `p${n++}`;
    params[name] = v;
    return `{${name}:${type}}`;
  };
  const service = q.serviceName ? add('String', q.serviceName) : undefined;
  if (service) conds.push(`service = ${service}`);
  if (q.operationName) conds.push(`name = ${add('String', q.operationName)}`);
  if (q.startTimeMin !== undefined) conds.push(`start_ns >= ${add('Int64', q.startTimeMin)}`);
  if (q.startTimeMax !== undefined) conds.push(`start_ns <= ${add('Int64', q.startTimeMax)}`);
  if (q.durationMin !== undefined) conds.push(`duration_ns >= ${add('Int64', q.durationMin)}`);
  if (q.durationMax !== undefined) conds.push(`duration_ns <= ${add('Int64', q.durationMax)}`);
  // the keys as attribute_keys holds them (resource keys without their prefix)
  const keys = [...new Set(q.attributes.filter(([k]) => !SPECIAL_KEYS.has(k)).map(([k]) => (k.startsWith('resource.') ? k.slice('resource.'.length) : k)))];
  const stored = keysTable !== undefined && keys.length > 0;
  const keysParam = stored ? add('Array(String)', keys) : '';
  for (const [key, want] of q.attributes) {
    switch (key) {
      case 'error':
        conds.push(want === 'true' ? 'status_code = 2' : want === 'false' ? 'status_code != 2' : '0');
        continue;
      case 'span.kind': {
        const k = kindOf(want);
        conds.push(k === undefined ? '0' : `kind = ${k}`);
        continue;
      }
      case 'span.status': {
        const s = statusOf(want);
        conds.push(s === undefined ? '0' : `status_code = ${s}`);
        continue;
      }
      case 'scope.name':
        conds.push(`scope_name = ${add('String', want)}`);
        continue;
      case 'scope.version':
        conds.push(`scope_version = ${add('String', want)}`);
        continue;
    }
    const w = add('String', want);
    if (key.startsWith('resource.')) {
      const k = add('String', key.slice('resource.'.length));
      conds.push(`(${[...typedMatch('res', k, w, want, add, stored), searched(LEVEL.resource, key.slice('resource.'.length), want, add)].join(' OR ')})`);
      continue;
    }
    const k = add('String', key);
    const levels = `${LEVEL.span}${LEVEL.resource}${LEVEL.scope}${LEVEL.event}${LEVEL.link}`;
    conds.push(`(${[...typedMatch('attr', k, w, want, add, stored), ...typedMatch('res', k, w, want, add, stored), searched(levels, key, want, add)].join(' OR ')})`);
  }
  const sql = conds.length ? conds.join(' AND ') : '1';
  if (!stored) return { sql, params };
  const ofService = service ? ` AND service = ${service}` : '';
  return { sql, params, with: `(SELECT groupUniqArray((key, level, type)) FROM ${keysTable} WHERE key IN ${keysParam}${ofService}) AS ${STORED}` };
}
