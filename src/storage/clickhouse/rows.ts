// Spans to rows of the spans table (JSONEachRow lines) and rows back to spans. Attributes go into typed maps
// (str, int, dbl, bool; bytes, arrays, key-value lists and empty values as OTLP/JSON in `other`) with their order
// kept in a short type string when it is not the maps' own order. Events, links and scope attributes are
// OTLP/JSON. Everything a search compares that has no typed column of its own (scope, event and link attributes,
// other values) also goes into search_attrs as the string a search compares (attrToString), keyed by a level
// letter and the attribute key.
import { type AttrValue, type KeyValue, type Resource, type ResourceSpans, type Scope, type Span, type SpanKind, type StatusCode, attrToString, serviceOf } from '../api/index.js';
import { decodeAnyValue, decodeAttributes, decodeEvent, decodeLink, encodeAnyValue, encodeAttributes, encodeEvent, encodeLink } from '../../otlp/otlp-json.js';
import type { SpanView } from '../api/semantics.js';

/** type letters of the attribute maps, in the maps' order */
const TYPES = ['s', 'i', 'd', 'b', 'o'] as const;
type TypeLetter = (typeof TYPES)[number];

export const LEVEL = { span: 's', resource: 'r', scope: 'c', event: 'e', link: 'l' } as const;

const q = JSON.stringify;

function typeOf(v: AttrValue): TypeLetter {
  switch (typeof v) {
    case 'string':
      return 's';
    case 'bigint':
      return 'i';
    case 'number':
      return Number.isFinite(v) ? 'd' : 'o';
    case 'boolean':
      return 'b';
  }
  return 'o';
}

/** the JSON text of one value in its typed map */
function valueText(t: TypeLetter, v: AttrValue): string {
  switch (t) {
    case 's':
      return q(v as string);
    case 'i':
    case 'd':
    case 'b':
      return String(v);
    case 'o':
      return q(q(encodeAnyValue(v)));
  }
}

/**
 * The six columns of one attribute level as JSON members (`"attr_str":{...},...,"attr_order":"..."`), and the
 * search entries of values that have no typed column (other types) appended to `search`.
 */
function attributeMembers(prefix: string, attrs: readonly KeyValue[], level: string, search: string[]): string {
  const parts: string[][] = [[], [], [], [], []];
  let order = '';
  let grouped = true;
  let last = 0;
  for (const a of attrs) {
    const t = typeOf(a.value);
    const i = TYPES.indexOf(t);
    if (i < last) grouped = false;
    last = i;
    order += t;
    parts[i]!.push(`${q(a.key)}:${valueText(t, a.value)}`);
    if (t === 'o') search.push(`${q(level + a.key)}:${q(attrToString(a.value))}`);
  }
  return (
    `"${prefix}_str":{${parts[0]!.join(',')}},"${prefix}_int":{${parts[1]!.join(',')}},"${prefix}_dbl":{${parts[2]!.join(',')}},` +
    `"${prefix}_bool":{${parts[3]!.join(',')}},"${prefix}_other":{${parts[4]!.join(',')}},"${prefix}_order":${q(grouped ? '' : order)}`
  );
}

const searchEntries = (attrs: readonly KeyValue[], level: string, into: string[]): void => {
  for (const a of attrs) into.push(`${q(level + a.key)}:${q(attrToString(a.value))}`);
};

/** the JSON members of a resource (shared by its spans) and its search entries */
function resourceMembers(rs: ResourceSpans): { text: string; search: string[] } {
  const search: string[] = [];
  const r = rs.resource;
  const text = `"service":${q(serviceOf(r))},${attributeMembers('res', r.attributes, LEVEL.resource, search)},"res_dropped":${r.droppedAttributesCount},"res_schema_url":${q(rs.schemaUrl)}`;
  return { text, search };
}

function scopeMembers(scope: Scope, schemaUrl: string): { text: string; search: string[] } {
  const search: string[] = [];
  searchEntries(scope.attributes, LEVEL.scope, search);
  const attrs = scope.attributes.length ? q(q(encodeAttributes(scope.attributes))) : '""';
  return { text: `"scope_name":${q(scope.name)},"scope_version":${q(scope.version)},"scope_attrs":${attrs},"scope_dropped":${scope.droppedAttributesCount},"scope_schema_url":${q(schemaUrl)}`, search };
}

/** One JSONEachRow line of the spans table per span of the batch, appended to `out`. */
export function spanRows(traces: readonly ResourceSpans[], out: string[]): void {
  for (const rs of traces) {
    const res = resourceMembers(rs);
    for (const ss of rs.scopeSpans) {
      const sc = scopeMembers(ss.scope, ss.schemaUrl);
      const shared = `${res.text},${sc.text}`;
      for (const s of ss.spans) {
        const search = [...res.search, ...sc.search];
        const attrs = attributeMembers('attr', s.attributes, LEVEL.span, search);
        for (const e of s.events) searchEntries(e.attributes, LEVEL.event, search);
        for (const l of s.links) searchEntries(l.attributes, LEVEL.link, search);
        out.push(
          `{"trace_id":"${s.traceId}","span_id":"${s.spanId}","parent_span_id":"${s.parentSpanId}","trace_state":${q(s.traceState)},"flags":${s.flags},` +
            `"name":${q(s.name)},"kind":${s.kind},"start_ns":${s.startTimeUnixNano},"end_ns":${s.endTimeUnixNano},"status_code":${s.status.code},"status_message":${q(s.status.message)},` +
            `"dropped":${s.droppedAttributesCount},"dropped_events":${s.droppedEventsCount},"dropped_links":${s.droppedLinksCount},${attrs},` +
            `"events":${s.events.length ? q(q(s.events.map(encodeEvent))) : '""'},"links":${s.links.length ? q(q(s.links.map(encodeLink))) : '""'},` +
            `${shared},"search_attrs":{${search.join(',')}}}`,
        );
      }
    }
  }
}

/** the typed maps of one level as the reader selects them: keys and values of each map, then the order string */
const levelColumns = (prefix: string): string[] => [
  ...['str', 'int', 'dbl', 'bool', 'other'].flatMap((t) => [`mapKeys(${prefix}_${t})`, `mapValues(${prefix}_${t})`]),
  `${prefix}_order`,
];

/** the columns a read selects, in the order rowToSpan reads them */
export const READ_COLUMNS = [
  'trace_id',
  'span_id',
  'parent_span_id',
  'trace_state',
  'flags',
  'name',
  'kind',
  'toString(start_ns)',
  'toString(end_ns)',
  'status_code',
  'status_message',
  'dropped',
  'dropped_events',
  'dropped_links',
  ...levelColumns('attr'),
  'events',
  'links',
  ...levelColumns('res'),
  'res_dropped',
  'res_schema_url',
  'scope_name',
  'scope_version',
  'scope_attrs',
  'scope_dropped',
  'scope_schema_url',
].join(', ');

type Cell = string | number | boolean | null | Cell[];

/** attributes from the typed maps (11 cells from `at`) in their stored order */
function readAttributes(row: Cell[], at: number, path: string): KeyValue[] {
  const col = (i: number): Cell[] => row[at + i] as Cell[];
  const maps: KeyValue[][] = [0, 1, 2, 3, 4].map((m) => {
    const keys = col(2 * m) as string[];
    const values = col(2 * m + 1);
    return keys.map((key, j) => {
      const v = values[j]!;
      switch (m) {
        case 0:
          return { key, value: v as string };
        case 1:
          return { key, value: BigInt(v as string | number) };
        case 2:
          return { key, value: Number(v) };
        case 3:
          return { key, value: v === true || v === 1 || v === 'true' };
        default:
          return { key, value: decodeAnyValue(JSON.parse(v as string) as unknown, `${path}.${key}`) };
      }
    });
  });
  const order = row[at + 10] as string;
  if (!order) return maps.flat();
  const next = [0, 0, 0, 0, 0];
  const out: KeyValue[] = [];
  for (const t of order) {
    const m = TYPES.indexOf(t as TypeLetter);
    const kv = maps[m]?.[next[m]!++];
    if (kv) out.push(kv);
  }
  return out;
}

const jsonList = (text: string): unknown[] => (text ? (JSON.parse(text) as unknown[]) : []);

/** Rows of one read back to span views; resources and scopes equal in value are shared objects. */
export class RowDecoder {
  private readonly resources = new Map<string, { resource: Resource; schemaUrl: string }>();
  private readonly scopes = new Map<string, { scope: Scope; schemaUrl: string }>();

  view(row: Cell[]): SpanView {
    const traceId = row[0] as string;
    const path = `span ${traceId}/${row[1] as string}`;
    const n = (i: number): number => Number(row[i]);
    const span: Span = {
      traceId,
      spanId: row[1] as string,
      parentSpanId: row[2] as string,
      traceState: row[3] as string,
      flags: n(4),
      name: row[5] as string,
      kind: n(6) as SpanKind,
      startTimeUnixNano: BigInt(row[7] as string),
      endTimeUnixNano: BigInt(row[8] as string),
      status: { code: n(9) as StatusCode, message: row[10] as string },
      droppedAttributesCount: n(11),
      droppedEventsCount: n(12),
      droppedLinksCount: n(13),
      attributes: readAttributes(row, 14, `${path} attributes`),
      events: jsonList(row[25] as string).map((e, i) => decodeEvent(e, `${path}.events[${i}]`)),
      links: jsonList(row[26] as string).map((l, i) => decodeLink(l, `${path}.links[${i}]`)),
    };
    const resKey = JSON.stringify(row.slice(27, 40));
    let res = this.resources.get(resKey);
    if (!res) {
      res = { resource: { attributes: readAttributes(row, 27, `${path} resource`), droppedAttributesCount: n(38) }, schemaUrl: row[39] as string };
      this.resources.set(resKey, res);
    }
    const scopeKey = JSON.stringify(row.slice(40, 45));
    let sc = this.scopes.get(scopeKey);
    if (!sc) {
      const attrs = row[42] as string;
      const attributes = attrs ? decodeAttributes(JSON.parse(attrs) as unknown, `${path}.scope.attributes`) : [];
      sc = { scope: { name: row[40] as string, version: row[41] as string, attributes, droppedAttributesCount: n(43) }, schemaUrl: row[44] as string };
      this.scopes.set(scopeKey, sc);
    }
    return { span, resource: res.resource, resourceSchemaUrl: res.schemaUrl, scope: sc.scope, scopeSchemaUrl: sc.schemaUrl, service: serviceOf(res.resource) };
  }
}
