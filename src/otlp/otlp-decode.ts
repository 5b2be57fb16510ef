// OTLP protobuf (ExportTraceServiceRequest / TracesData) to the storage model, in two steps:
//  - scan: one pass over the bytes with every check of a full decode, allocating nothing per span; it yields a plan
//    (typed arrays: where each kept span's fields sit, which resources and scopes were kept) and the spans rejected.
//  - build: the spans and their resources and scopes from the bytes and the plan, without checking anything again.
// The plan is plain data, so the scan can run on another thread (src/runtime/receivers/decode-pool.ts) and the
// build on the thread that stores the spans. Unknown fields are skipped (forward compatible). Structural damage
// (truncation, bad wire types) throws InvalidArgumentError for the whole request; a span with an unusable trace or
// span ID is dropped and counted, so the receiver can answer partial_success.
import { Reader, type Where, text } from './proto-wire.js';
import { type ResourceSpans, type ScopeSpans, type Span, type SpanLink, StatusCode, newSpan } from '../storage/api/model.js';
import { T1_LEN, T2_LEN, T3_LEN, T4_LEN, TOO_DEEP, clearTooDeep, event, link, linkIsValid, pushKeyValue, resource, scope, spanAttributes, spanEvents, wasTooDeep } from './otlp-values.js';
import { ATTRS_ENCODED, EVENTS_ENCODED, WireSpan, endsBeforeStartAt } from './wire-span.js';

const MAX_UINT32 = 0xffffffff;

// A span's row in the plan: ROW int32 slots. Offsets are -1 when the field is absent; uint32 values are stored
// with `| 0` and read with `>>> 0`.
const ROW = 20;
const AT = 0; // the span message: [AT, END)
const END = 1;
const TRACE_ID = 2;
const SPAN_ID = 3;
const PARENT = 4;
const T_START = 5;
const T_END = 6;
const NAME = 7; // [NAME, NAME + 1)
const STATE = 9; // trace_state: [STATE, STATE + 1)
const KIND = 11;
const FLAGS = 12;
const DROPPED_ATTRS = 13;
const DROPPED_EVENTS = 14;
const DROPPED_LINKS = 15;
const BITS = 16; // ATTRS_ENCODED | EVENTS_ENCODED | HAS_LINKS | HAS_STATUS
const STATUS_CODE = 17;
const STATUS_MESSAGE = 18; // [STATUS_MESSAGE, STATUS_MESSAGE + 1)
const HAS_LINKS = 8;
const HAS_STATUS = 16;

/** What the scan found: plain data, which can be posted to another thread (its arrays transferred). */
export interface TracesPlan {
  /** ROW slots per kept span, in order */
  rows: Int32Array;
  /**
   * Per kept ResourceSpans: its message's start and end and how many ScopeSpans of it were kept; after it, per kept
   * ScopeSpans: its message's start and end and how many of its spans were kept (the next rows).
   */
  groups: Int32Array;
  /** spans in the request, kept or not */
  spans: number;
  /** spans dropped for unusable IDs, times or values */
  rejected: number;
  /** the first few reasons, for partial_success.error_message */
  problems: string[];
}

export interface DecodedTraces {
  traces: ResourceSpans[];
  spans: number;
  /** spans dropped for unusable IDs or times */
  rejected: number;
  /** the first few reasons, for partial_success.error_message */
  problems: string[];
}

/** A growable Int32Array. */
class Ints {
  a = new Int32Array(1024);
  n = 0;
  /** room for `k` more slots; returns where they start */
  reserve(k: number): number {
    if (this.n + k > this.a.length) {
      const b = new Int32Array(Math.max(this.a.length * 2, this.n + k));
      b.set(this.a.subarray(0, this.n));
      this.a = b;
    }
    const at = this.n;
    this.n += k;
    return at;
  }
  push3(x: number, y: number, z: number): number {
    const at = this.reserve(3);
    this.a[at] = x;
    this.a[at + 1] = y;
    this.a[at + 2] = z;
    return at;
  }
  /** the slots written, in an ArrayBuffer of their own */
  done(): Int32Array {
    return this.a.slice(0, this.n);
  }
}

/** reads a length-delimited field's range into row[o], row[o + 1] */
function range(r: Reader, end: number, row: Int32Array, o: number): void {
  const e = r.len(end);
  row[o] = r.pos;
  row[o + 1] = e;
  r.pos = e;
}

/**
 * Checks one span message [pos, end) and writes its row at `o`; returns why it cannot be stored, or ''. Its
 * attributes and events are walked with every check of a real decode but nothing is built.
 */
function scanSpan(r: Reader, end: number, row: Int32Array, o: number): string {
  row.fill(-1, o, o + ROW);
  row[o + AT] = r.pos;
  row[o + END] = end;
  row[o + KIND] = 0;
  row[o + FLAGS] = 0;
  row[o + DROPPED_ATTRS] = 0;
  row[o + DROPPED_EVENTS] = 0;
  row[o + DROPPED_LINKS] = 0;
  row[o + STATUS_CODE] = 0;
  let bits = 0;
  let problem = '';
  clearTooDeep();
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case T1_LEN: {
        const at = r.idAt(end, 16);
        row[o + TRACE_ID] = at;
        if (at < 0) problem = 'trace_id must be 16 bytes and not all zero';
        break;
      }
      case T2_LEN: {
        const at = r.idAt(end, 8);
        row[o + SPAN_ID] = at;
        if (at < 0) problem = 'span_id must be 8 bytes and not all zero';
        break;
      }
      case T3_LEN:
        range(r, end, row, o + STATE);
        break;
      case T4_LEN: {
        // an all-zero parent is no parent (OTLP's invalid span ID), as for the other IDs
        const at = r.pos;
        const n = r.len(end) - r.pos;
        r.pos = at;
        if (n === 8) row[o + PARENT] = r.idAt(end, 8);
        else {
          if (n !== 0) problem = 'parent_span_id must be empty or 8 bytes';
          r.pos = r.len(end);
        }
        break;
      }
      case 0x2a: // name
        range(r, end, row, o + NAME);
        break;
      case 0x30: {
        // kind
        const k = r.varint();
        row[o + KIND] = k <= 5 ? k : 0;
        break;
      }
      case 0x39: // start_time_unix_nano
        row[o + T_START] = r.fixed64At();
        break;
      case 0x41: // end_time_unix_nano
        row[o + T_END] = r.fixed64At();
        break;
      case 0x4a: // attributes
        pushKeyValue(r, end, undefined);
        bits |= ATTRS_ENCODED;
        break;
      case 0x50:
        row[o + DROPPED_ATTRS] = r.uint32() | 0;
        break;
      case 0x5a: {
        // events
        const e = r.len(end);
        event(r, e, false);
        bits |= EVENTS_ENCODED;
        r.done(e);
        break;
      }
      case 0x60:
        row[o + DROPPED_EVENTS] = r.uint32() | 0;
        break;
      case 0x6a: {
        // links: a link without usable IDs is counted as dropped
        const e = r.len(end);
        const valid = linkIsValid(r, e);
        r.done(e);
        if (valid) bits |= HAS_LINKS;
        else row[o + DROPPED_LINKS] = Math.min(MAX_UINT32, (row[o + DROPPED_LINKS]! >>> 0) + 1) | 0;
        break;
      }
      case 0x70:
        row[o + DROPPED_LINKS] = Math.min(MAX_UINT32, (row[o + DROPPED_LINKS]! >>> 0) + r.uint32()) | 0;
        break;
      case 0x7a: {
        // status { string message = 2; StatusCode code = 3 }
        const e = r.len(end);
        bits |= HAS_STATUS;
        while (r.pos < e) {
          const t = r.varint();
          if (t === T2_LEN) range(r, e, row, o + STATUS_MESSAGE);
          else if (t === 0x18) {
            const c = r.varint();
            row[o + STATUS_CODE] = c <= 2 ? c : 0;
          } else r.skip(t, e);
        }
        break;
      }
      case 0x85: // flags: field 16, fixed32 (two-byte tag 0x85 0x01 reads as 133)
        row[o + FLAGS] = r.fixed32() | 0;
        break;
      default:
        r.skip(tag, end);
    }
  }
  row[o + BITS] = bits;
  if (!problem && row[o + TRACE_ID]! < 0) problem = 'trace_id is missing';
  if (!problem && row[o + SPAN_ID]! < 0) problem = 'span_id is missing';
  if (!problem && endsBeforeStartAt(r.buf, row[o + T_START]!, row[o + T_END]!)) problem = 'end_time_unix_nano is before start_time_unix_nano';
  if (!problem && wasTooDeep()) problem = TOO_DEEP;
  return problem;
}

/** Checks a whole request and says where its storable spans are; throws InvalidArgumentError when it is malformed. */
export function scanTraces(buf: Buffer): TracesPlan {
  const out: TracesPlan = { rows: new Int32Array(0), groups: new Int32Array(0), spans: 0, rejected: 0, problems: [] };
  const rows = new Ints();
  const groups = new Ints();
  const reject = (count: number, where: string, why: string): void => {
    out.rejected += count;
    if (out.problems.length < 5) out.problems.push(`${where}: ${why}`);
  };
  const where: Where = { ri: -1, si: -1, ki: -1 };
  const r = new Reader(buf, where);
  const total = buf.length;
  while (r.pos < total) {
    const tag = r.varint();
    if (tag !== T1_LEN) {
      r.skip(tag, total);
      continue;
    }
    where.ri++;
    where.si = -1;
    where.ki = -1;
    const rend = r.len(total);
    const rsGroup = groups.push3(r.pos, rend, 0);
    const rsRows = rows.n;
    let scopesKept = 0;
    let badResource = '';
    while (r.pos < rend) {
      const t2 = r.varint();
      if (t2 === T1_LEN) {
        const e = r.len(rend);
        clearTooDeep();
        resource(r, e, undefined);
        if (wasTooDeep()) badResource = `resource: ${TOO_DEEP}`;
        r.done(e);
      } else if (t2 === T2_LEN) {
        where.si++;
        where.ki = -1;
        const send = r.len(rend);
        const ssGroup = groups.push3(r.pos, send, 0);
        const ssRows = rows.n;
        let badScope = '';
        while (r.pos < send) {
          const t3 = r.varint();
          if (t3 === T1_LEN) {
            const e = r.len(send);
            clearTooDeep();
            scope(r, e, undefined);
            if (wasTooDeep()) badScope = `scope: ${TOO_DEEP}`;
            r.done(e);
          } else if (t3 === T2_LEN) {
            where.ki++;
            const e = r.len(send);
            const o = rows.reserve(ROW);
            const problem = scanSpan(r, e, rows.a, o);
            r.done(e);
            out.spans++;
            if (problem) {
              rows.n = o;
              reject(1, `resourceSpans[${where.ri}].scopeSpans[${where.si}].spans[${where.ki}]`, problem);
            }
          } else if (t3 === T3_LEN) r.pos = r.len(send);
          else r.skip(t3, send);
        }
        where.ki = -1;
        const kept = (rows.n - ssRows) / ROW;
        // resource and scope may come after the spans on the wire: judge them once the message is read
        const bad = badResource || badScope;
        if (bad && kept) reject(kept, `resourceSpans[${where.ri}].scopeSpans[${where.si}]`, bad);
        if (bad || !kept) {
          rows.n = ssRows;
          groups.n = ssGroup;
        } else {
          groups.a[ssGroup + 2] = kept;
          scopesKept++;
        }
      } else if (t2 === T3_LEN) r.pos = r.len(rend);
      else r.skip(t2, rend);
    }
    where.si = -1;
    const kept = (rows.n - rsRows) / ROW;
    // the resource came after some of its scopes
    if (badResource && kept) reject(kept, `resourceSpans[${where.ri}]`, badResource);
    if (badResource || !kept) {
      rows.n = rsRows;
      groups.n = rsGroup;
    } else groups.a[rsGroup + 2] = scopesKept;
  }
  out.rows = rows.done();
  out.groups = groups.done();
  return out;
}

/** the links of a span message [start, end) that have usable IDs (it was checked when scanned) */
function spanLinks(buf: Buffer, start: number, end: number): SpanLink[] {
  const r = new Reader(buf, { ri: -1, si: -1, ki: -1 });
  r.pos = start;
  const out: SpanLink[] = [];
  while (r.pos < end) {
    const tag = r.varint();
    if (tag === 0x6a) {
      const e = r.len(end);
      const l = link(r, e);
      if (l) out.push(l);
      r.pos = e;
    } else r.skip(tag, end);
  }
  return out;
}

/** Trace IDs repeat in consecutive spans: the same bytes as the last one give the same string. */
class TraceIds {
  #at = -1;
  #id = '';
  constructor(readonly buf: Buffer) {}
  at(s: number): string {
    const buf = this.buf;
    const last = this.#at;
    if (last >= 0) {
      let same = true;
      for (let i = 0; i < 16; i++) {
        if (buf[s + i] !== buf[last + i]) {
          same = false;
          break;
        }
      }
      if (same) return this.#id;
    }
    this.#at = s;
    return (this.#id = buf.toString('hex', s, s + 16));
  }
}

/** the fields of row `o` that both kinds of span take as they are */
function fill(s: Span, buf: Buffer, row: Int32Array, o: number): void {
  s.name = text(buf, row[o + NAME]!, row[o + NAME + 1]!);
  s.traceState = text(buf, row[o + STATE]!, row[o + STATE + 1]!);
  s.kind = row[o + KIND]!;
  s.flags = row[o + FLAGS]! >>> 0;
  s.droppedAttributesCount = row[o + DROPPED_ATTRS]! >>> 0;
  s.droppedEventsCount = row[o + DROPPED_EVENTS]! >>> 0;
  s.droppedLinksCount = row[o + DROPPED_LINKS]! >>> 0;
  const bits = row[o + BITS]!;
  if (bits & HAS_STATUS) s.status = { code: row[o + STATUS_CODE]! as StatusCode, message: text(buf, row[o + STATUS_MESSAGE]!, row[o + STATUS_MESSAGE + 1]!) };
  if (bits & HAS_LINKS) s.links = spanLinks(buf, row[o + AT]!, row[o + END]!);
}

const id = (buf: Buffer, at: number): string => (at < 0 ? '' : buf.toString('hex', at, at + 8));
const time = (buf: Buffer, at: number): bigint => (at < 0 ? 0n : buf.readBigUInt64LE(at));

/** row `o` as a LazySpan over `buf` */
function lazySpan(buf: Buffer, row: Int32Array, o: number, traceId: string): Span {
  const s = new WireSpan(buf, row[o + AT]!, row[o + END]!, traceId, row[o + SPAN_ID]!, row[o + PARENT]!, row[o + T_START]!, row[o + T_END]!, row[o + BITS]! & (ATTRS_ENCODED | EVENTS_ENCODED));
  fill(s, buf, row, o);
  return s;
}

/** row `o` decoded whole into a plain span */
function plainSpan(buf: Buffer, row: Int32Array, o: number, traceId: string): Span {
  const at = row[o + AT]!;
  const end = row[o + END]!;
  const bits = row[o + BITS]!;
  const s = newSpan({
    traceId,
    spanId: id(buf, row[o + SPAN_ID]!),
    parentSpanId: id(buf, row[o + PARENT]!),
    startTimeUnixNano: time(buf, row[o + T_START]!),
    endTimeUnixNano: time(buf, row[o + T_END]!),
    attributes: bits & ATTRS_ENCODED ? spanAttributes(buf, at, end) : [],
    events: bits & EVENTS_ENCODED ? spanEvents(buf, at, end) : [],
  });
  fill(s, buf, row, o);
  return s;
}

/**
 * The spans a plan says to keep, with their resources and scopes, from the bytes it was made from. `lazy`: spans
 * are LazySpans over `buf` (attributes and events decoded when read); otherwise plain spans.
 */
export function buildTraces(buf: Buffer, plan: TracesPlan, lazy: boolean): DecodedTraces {
  const out: DecodedTraces = { traces: [], spans: plan.spans, rejected: plan.rejected, problems: plan.problems };
  const { rows, groups } = plan;
  const r = new Reader(buf, { ri: -1, si: -1, ki: -1 });
  const ids = new TraceIds(buf);
  const make = lazy ? lazySpan : plainSpan;
  let g = 0;
  let o = 0;
  while (g < groups.length) {
    const rsEnd = groups[g + 1]!;
    const scopes = groups[g + 2]!;
    const rs: ResourceSpans = { resource: { attributes: [], droppedAttributesCount: 0 }, schemaUrl: '', scopeSpans: [] };
    r.pos = groups[g]!;
    g += 3;
    while (r.pos < rsEnd) {
      const t = r.varint();
      if (t === T1_LEN) {
        const e = r.len(rsEnd);
        resource(r, e, rs.resource);
        r.pos = e;
      } else if (t === T3_LEN) rs.schemaUrl = r.string(rsEnd);
      else r.skip(t, rsEnd);
    }
    for (let k = 0; k < scopes; k++) {
      const ssEnd = groups[g + 1]!;
      const count = groups[g + 2]!;
      const ss: ScopeSpans = { scope: { name: '', version: '', attributes: [], droppedAttributesCount: 0 }, schemaUrl: '', spans: new Array<Span>(count) };
      r.pos = groups[g]!;
      g += 3;
      while (r.pos < ssEnd) {
        const t = r.varint();
        if (t === T1_LEN) {
          const e = r.len(ssEnd);
          scope(r, e, ss.scope);
          r.pos = e;
        } else if (t === T3_LEN) ss.schemaUrl = r.string(ssEnd);
        else r.skip(t, ssEnd);
      }
      for (let i = 0; i < count; i++, o += ROW) ss.spans[i] = make(buf, rows, o, ids.at(rows[o + TRACE_ID]!));
      rs.scopeSpans.push(ss);
    }
    out.traces.push(rs);
  }
  if (lazy) compact(out.traces, buf);
  return out;
}

/**
 * Lazy spans keep the bytes they point into alive, and a store counts only each span's own bytes. When the spans
 * taken from a request are clearly less than the memory that request holds (skipped unknown fields, rejected spans,
 * the resources and scopes, which are decoded in full, or a request cut from a larger buffer such as a pooled
 * slab), their bytes are copied into one buffer of their own, so what is kept is what is counted.
 */
function compact(traces: readonly ResourceSpans[], bytes: Uint8Array): void {
  let kept = 0;
  for (const rs of traces) for (const ss of rs.scopeSpans) for (const s of ss.spans) kept += (s as WireSpan).encodedSize;
  const held = bytes.buffer.byteLength;
  if (kept === 0 || kept * 9 >= held * 8) return;
  const own = Buffer.allocUnsafeSlow(kept);
  let at = 0;
  for (const rs of traces) for (const ss of rs.scopeSpans) for (const s of ss.spans) at = (s as WireSpan).moveTo(own, at);
}

/**
 * Decodes ExportTraceServiceRequest / TracesData (same field 1: repeated ResourceSpans). With `lazy`, spans are
 * LazySpans over the request's bytes: every check of a full decode runs now, but attributes and events are
 * decoded only when they are read.
 */
export function decodeTracesProto(bytes: Uint8Array, o: { lazy?: boolean } = {}): DecodedTraces {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return buildTraces(buf, scanTraces(buf), o.lazy === true);
}
