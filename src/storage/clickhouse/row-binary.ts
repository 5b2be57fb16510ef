// Spans as RowBinary rows of the spans table: the engine reads them without parsing text (JSON costs it more than the
// insert itself), and building them costs less than JSON here. The columns go in SPAN_INSERT_COLUMNS order: the
// span's own, then those of its resource and scope (encoded once per resource and scope and copied into each row),
// then search_terms. RowBinary: strings, map and array sizes with a LEB128 length, numbers little-endian.
import { type KeyValue, type ResourceSpans, type Scope, attrToString, serviceOf } from '../api/index.js';
import { encodeAnyValue, encodeAttributes, encodeEvent, encodeLink } from '../../otlp/otlp-json.js';
import { LEVEL } from './rows.js';

/** A growing buffer of RowBinary values. */
export class RowBinaryWriter {
  buf: Buffer;
  pos = 0;

  constructor(size = 1 << 20) {
    this.buf = Buffer.allocUnsafe(size);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  varint(n: number): void {
    this.ensure(10);
    while (n >= 0x80) {
      this.buf[this.pos++] = (n & 0x7f) | 0x80;
      n = Math.floor(n / 128);
    }
    this.buf[this.pos++] = n;
  }

  str(s: string): void {
    // at most 3 bytes per UTF-16 unit: a string of up to 42 units has a one-byte length, written after the bytes
    if (s.length <= 42) {
      this.ensure(1 + s.length * 3);
      const n = this.buf.write(s, this.pos + 1, 'utf8');
      this.buf[this.pos] = n;
      this.pos += 1 + n;
      return;
    }
    const n = Buffer.byteLength(s, 'utf8');
    this.varint(n);
    this.ensure(n);
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32LE(v >>> 0, this.pos);
    this.pos += 4;
  }

  i64(v: bigint): void {
    this.ensure(8);
    // OTLP's fixed64 times read as signed, as every decoder here does
    this.buf.writeBigInt64LE(BigInt.asIntN(64, v), this.pos);
    this.pos += 8;
  }

  f64(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** the bytes written so far (a view: valid until the next write) */
  view(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

/** the insert's column list: the table's stored columns, in the order rows are written */
export const SPAN_INSERT_COLUMNS = [
  'trace_id',
  'span_id',
  'parent_span_id',
  'trace_state',
  'flags',
  'name',
  'kind',
  'start_ns',
  'duration_ns',
  'end_unset',
  'status_code',
  'status_message',
  'dropped',
  'dropped_events',
  'dropped_links',
  'attr_str',
  'attr_int',
  'attr_dbl',
  'attr_bool',
  'attr_other',
  'attr_order',
  'events',
  'links',
  'service',
  'res_str',
  'res_int',
  'res_dbl',
  'res_bool',
  'res_other',
  'res_order',
  'res_dropped',
  'res_schema_url',
  'scope_name',
  'scope_version',
  'scope_attrs',
  'scope_dropped',
  'scope_schema_url',
  'search_terms',
].join(', ');

/**
 * A search term: the level letter, the key's length, ':', the key and the string a search compares. The length keeps
 * it unambiguous (key "a:b" with value "c" and key "a" with value "b:c" differ), so a search is one `has` on an array.
 */
export const searchTerm = (level: string, key: string, value: string): string => `${level}${key.length}:${key}${value}`;

type SearchEntry = string;

const TYPE_LETTERS = 'sidbo';

/** the map (0 str, 1 int, 2 dbl, 3 bool, 4 other) an attribute value goes into */
function mapOf(v: KeyValue['value']): number {
  switch (typeof v) {
    case 'string':
      return 0;
    case 'bigint':
      return 1;
    case 'number':
      return Number.isFinite(v) ? 2 : 4;
    case 'boolean':
      return 3;
  }
  return 4;
}

/**
 * The five typed maps and the order string of one attribute level; values of other types also as search entries.
 * The order string is empty when the attributes already come map by map.
 */
export function writeAttributes(w: RowBinaryWriter, attrs: readonly KeyValue[], level: string, search: SearchEntry[]): void {
  const counts = [0, 0, 0, 0, 0];
  let grouped = true;
  let last = 0;
  for (const a of attrs) {
    const m = mapOf(a.value);
    counts[m]!++;
    if (m < last) grouped = false;
    last = m;
  }
  for (let m = 0; m < 5; m++) {
    w.varint(counts[m]!);
    if (!counts[m]) continue;
    for (const a of attrs) {
      if (mapOf(a.value) !== m) continue;
      w.str(a.key);
      const v = a.value;
      if (m === 0) w.str(v as string);
      else if (m === 1) w.i64(v as bigint);
      else if (m === 2) w.f64(v as number);
      else if (m === 3) w.u8(v ? 1 : 0);
      else {
        w.str(JSON.stringify(encodeAnyValue(v)));
        search.push(searchTerm(level, a.key, attrToString(v)));
      }
    }
  }
  let order = '';
  if (!grouped) for (const a of attrs) order += TYPE_LETTERS[mapOf(a.value)];
  w.str(order);
}

const searchEntries = (attrs: readonly KeyValue[], level: string, into: SearchEntry[]): void => {
  for (const a of attrs) into.push(searchTerm(level, a.key, attrToString(a.value)));
};

/** a resource and scope's columns (service .. scope_schema_url) and their search entries, encoded once */
function sharedColumns(rs: ResourceSpans, scope: Scope, scopeSchemaUrl: string): { bytes: Buffer; search: SearchEntry[] } {
  const w = new RowBinaryWriter(1024);
  const search: SearchEntry[] = [];
  w.str(serviceOf(rs.resource));
  writeAttributes(w, rs.resource.attributes, LEVEL.resource, search);
  w.u32(rs.resource.droppedAttributesCount);
  w.str(rs.schemaUrl);
  w.str(scope.name);
  w.str(scope.version);
  w.str(scope.attributes.length ? JSON.stringify(encodeAttributes(scope.attributes)) : '');
  w.u32(scope.droppedAttributesCount);
  w.str(scopeSchemaUrl);
  searchEntries(scope.attributes, LEVEL.scope, search);
  return { bytes: Buffer.from(w.view()), search };
}

/** Appends one RowBinary row of the spans table per span of the batch; returns the number of rows. */
export function writeSpanRows(w: RowBinaryWriter, traces: readonly ResourceSpans[]): number {
  let rows = 0;
  const search: SearchEntry[] = [];
  for (const rs of traces)
    for (const ss of rs.scopeSpans) {
      const shared = sharedColumns(rs, ss.scope, ss.schemaUrl);
      for (const s of ss.spans) {
        search.length = 0;
        w.str(s.traceId);
        w.str(s.spanId);
        w.str(s.parentSpanId);
        w.str(s.traceState);
        w.u32(s.flags);
        w.str(s.name);
        w.u8(s.kind);
        w.i64(s.startTimeUnixNano);
        // end < start only for an unset end (0): validated
        const unset = s.endTimeUnixNano < s.startTimeUnixNano;
        w.i64(unset ? 0n : s.endTimeUnixNano - s.startTimeUnixNano);
        w.u8(unset ? 1 : 0);
        w.u8(s.status.code);
        w.str(s.status.message);
        w.u32(s.droppedAttributesCount);
        w.u32(s.droppedEventsCount);
        w.u32(s.droppedLinksCount);
        writeAttributes(w, s.attributes, LEVEL.span, search);
        w.str(s.events.length ? JSON.stringify(s.events.map(encodeEvent)) : '');
        w.str(s.links.length ? JSON.stringify(s.links.map(encodeLink)) : '');
        for (const e of s.events) searchEntries(e.attributes, LEVEL.event, search);
        for (const l of s.links) searchEntries(l.attributes, LEVEL.link, search);
        w.bytes(shared.bytes);
        w.varint(shared.search.length + search.length);
        for (const t of shared.search) w.str(t);
        for (const t of search) w.str(t);
        rows++;
      }
    }
  return rows;
}
