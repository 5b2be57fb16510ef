// Rows of the spans table back to spans (./row-binary.ts writes them). Attributes live in typed maps (str, int, dbl,
// bool; bytes, arrays, key-value lists and empty values as OTLP/JSON in `other`) with their order kept in a short
// type string when it is not the maps' own order. Events, links and scope attributes are OTLP/JSON. Everything a
// search compares that has no typed column of its own (scope, event and link attributes, other values) is also in
// search_terms: level letter, key and the string a search compares (attrToString).
import { type KeyValue, type Resource, type Scope, type Span, type SpanKind, type StatusCode, serviceOf } from '../api/index.js';
import { decodeAnyValue, decodeAttributes, decodeEvent, decodeLink } from '../../otlp/otlp-json.js';
import type { SpanView } from '../api/semantics.js';

/** type letters of the attribute maps, in the maps' order (the order string of a row uses them) */
const TYPES = ['s', 'i', 'd', 'b', 'o'] as const;
type TypeLetter = (typeof TYPES)[number];

/** level letters of search terms */
export const LEVEL = { span: 's', resource: 'r', scope: 'c', event: 'e', link: 'l' } as const;

/** the typed maps of one level as the reader selects them: keys and values of each map, then the order string */
const levelColumns = (prefix: string): string[] => [
  ...['str', 'int', 'dbl', 'bool', 'other'].flatMap((t) => [`mapKeys(${prefix}_${t})`, t === 'int' ? `arrayMap(x -> toString(x), mapValues(${prefix}_int))` : `mapValues(${prefix}_${t})`]),
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

/**
 * An OTLP time (fixed64: 0 .. 2^64-1 nanoseconds) from its Int64 column: the writer stores the 64 bits as they are,
 * so times from 2^63 on (past the year 2262) read as negative and are turned back here. Sums of such columns wrap
 * the same way (end_ns = start_ns + duration_ns).
 */
const uint64 = (stored: string): bigint => BigInt.asUintN(64, BigInt(stored));

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
      startTimeUnixNano: uint64(row[7] as string),
      endTimeUnixNano: uint64(row[8] as string),
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
