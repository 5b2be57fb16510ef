// OTLP protobuf (opentelemetry.proto.trace.v1 / collector.trace.v1) straight to and from the storage model:
// one pass over the bytes, no intermediate message objects. Unknown fields are skipped (forward compatible).
// Structural damage (truncation, bad wire types) throws InvalidArgumentError for the whole request; a span
// with an unusable trace or span ID is dropped and counted, so the receiver can answer partial_success.
import { Reader, VARINT, type Where, Writer } from './proto-wire.js';
import { type AttrValue, type KeyValue, type LazySpan, MAX_VALUE_DEPTH, type Resource, type ResourceSpans, type Scope, type ScopeSpans, type Span, type SpanEvent, SpanKind, type SpanLink, StatusCode, newSpan } from '../storage/api/model.js';

// tags: (field << 3) | wire type
const T1_LEN = 0x0a;
const T2_LEN = 0x12;
const T3_LEN = 0x1a;
const T4_LEN = 0x22;
const MAX_UINT32 = 0xffffffff;

// Set when a value nested deeper than MAX_VALUE_DEPTH was skipped; the span (or resource, or scope) holding it is
// rejected. Decoding is synchronous, so one flag serves: it is cleared before each span, resource and scope.
let tooDeep = false;
const TOO_DEEP = `an attribute value is nested deeper than ${MAX_VALUE_DEPTH} levels of arrays and key-value lists: flatten it`;

// `build` false walks a value with every check of a real decode but allocates nothing: a lazy span's attributes
// and events are checked this way when the span is read, so decoding them later cannot fail.
function anyValue(r: Reader, end: number, depth: number, build: boolean): AttrValue {
  if (depth >= MAX_VALUE_DEPTH) {
    tooDeep = true;
    r.pos = end;
    return null;
  }
  let v: AttrValue = null;
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case 0x0a: // string_value
        if (build) v = r.string(end);
        else r.pos = r.len(end);
        break;
      case 0x10: // bool_value
        v = r.varint() !== 0;
        break;
      case 0x18: // int_value
        if (build) v = r.int64();
        else r.varint();
        break;
      case 0x21: // double_value
        v = r.double();
        break;
      case 0x2a: {
        // array_value { repeated AnyValue values = 1 }
        const e = r.len(end);
        const arr: AttrValue[] = [];
        while (r.pos < e) {
          const t = r.varint();
          if (t === T1_LEN) {
            const ve = r.len(e);
            const x = anyValue(r, ve, depth + 1, build);
            if (build) arr.push(x);
            r.done(ve);
          } else r.skip(t, e);
        }
        v = { array: arr };
        break;
      }
      case 0x32: {
        // kvlist_value { repeated KeyValue values = 1 }
        const e = r.len(end);
        const list: KeyValue[] = [];
        while (r.pos < e) {
          const t = r.varint();
          if (t === T1_LEN) {
            const ve = r.len(e);
            const kv = keyValue(r, ve, depth + 1, build);
            if (build) list.push(kv);
            r.done(ve);
          } else r.skip(t, e);
        }
        v = { kvlist: list };
        break;
      }
      case 0x3a: {
        // bytes_value
        const e = r.len(end);
        if (build) v = new Uint8Array(r.buf.subarray(r.pos, e));
        r.pos = e;
        break;
      }
      default:
        r.skip(tag, end);
    }
  }
  return v;
}

const UNBUILT: KeyValue = { key: '', value: null };

/** one KeyValue message spanning [pos, end) */
export function keyValue(r: Reader, end: number, depth = 0, build = true): KeyValue {
  let key = '';
  let value: AttrValue = null;
  while (r.pos < end) {
    const tag = r.varint();
    if (tag === T1_LEN) {
      if (build) key = r.string(end);
      else r.pos = r.len(end);
    } else if (tag === T2_LEN) {
      const e = r.len(end);
      value = anyValue(r, e, depth, build);
      r.done(e);
    } else r.skip(tag, end);
  }
  return build ? { key, value } : UNBUILT;
}

/** reads one KeyValue at pos (after its tag) into `into`, or only checks it */
function pushKeyValue(r: Reader, end: number, into: KeyValue[] | undefined): void {
  const e = r.len(end);
  const kv = keyValue(r, e, 0, into !== undefined);
  into?.push(kv);
  r.done(e);
}

function event(r: Reader, end: number, build = true): SpanEvent {
  const ev: SpanEvent = { timeUnixNano: 0n, name: '', attributes: [], droppedAttributesCount: 0 };
  const attributes = build ? ev.attributes : undefined;
  while (r.pos < end) {
    const tag = r.varint();
    if (tag === 0x09) ev.timeUnixNano = r.fixed64();
    else if (tag === T2_LEN) {
      if (build) ev.name = r.string(end);
      else r.pos = r.len(end);
    } else if (tag === T3_LEN) pushKeyValue(r, end, attributes);
    else if (tag === 0x20) ev.droppedAttributesCount = r.uint32();
    else r.skip(tag, end);
  }
  return ev;
}

const NO_WHERE: Where = { ri: -1, si: -1, ki: -1 };

/** the attributes (field 9) of the span message [start, end), which was checked when it was read */
function spanAttributes(buf: Buffer, start: number, end: number): KeyValue[] {
  const r = new Reader(buf, NO_WHERE);
  r.pos = start;
  const out: KeyValue[] = [];
  while (r.pos < end) {
    const tag = r.varint();
    if (tag === 0x4a) pushKeyValue(r, end, out);
    else r.skip(tag, end);
  }
  return out;
}

/** the events (field 11) of the span message [start, end), which was checked when it was read */
function spanEvents(buf: Buffer, start: number, end: number): SpanEvent[] {
  const r = new Reader(buf, NO_WHERE);
  r.pos = start;
  const out: SpanEvent[] = [];
  while (r.pos < end) {
    const tag = r.varint();
    if (tag === 0x5a) {
      const e = r.len(end);
      out.push(event(r, e));
      r.done(e);
    } else r.skip(tag, end);
  }
  return out;
}

// WireSpan state bits: its bytes hold attributes / events; reads no longer keep what they decode
const ATTRS_ENCODED = 1;
const EVENTS_ENCODED = 2;
const RELEASED = 4;

/** Shared by spans without links or status until one is set: a stored span costs fewer objects. */
const NO_LINKS: SpanLink[] = Object.freeze([]) as unknown as SpanLink[];
const UNSET: Span['status'] = Object.freeze({ code: StatusCode.Unset, message: '' }) as Span['status'];

// where a WireSpan's fixed-size fields sit in its bytes (-1: absent)
const SPAN_ID = 0;
const PARENT = 1;
const START = 2;
const END = 3;

const NOTHING_HELD = Object.freeze({});

/** What was assigned to a WireSpan's fields that otherwise read from its bytes. */
interface Assigned {
  spanId?: string;
  parentSpanId?: string;
  startTimeUnixNano?: bigint;
  endTimeUnixNano?: bigint;
  attributes?: KeyValue[];
  events?: SpanEvent[];
  /** added while the attributes were still encoded: reads append them */
  added?: KeyValue[];
}

/**
 * A span read from OTLP protobuf (see LazySpan). Besides its attributes and events, its span IDs and times are read
 * from its bytes when asked for: a stored span is one object over the request's bytes, not six.
 */
class WireSpan implements LazySpan {
  traceId = '';
  traceState = '';
  flags = 0;
  name = '';
  kind: SpanKind = SpanKind.Unspecified;
  droppedAttributesCount = 0;
  droppedEventsCount = 0;
  links = NO_LINKS;
  droppedLinksCount = 0;
  status = UNSET;
  #buf: Buffer;
  #start: number;
  #end: number;
  #bits = 0;
  #traceId = '';
  #spanIdAt = -1;
  #parentAt = -1;
  #startAt = -1;
  #endAt = -1;
  #set: Assigned | undefined;

  constructor(buf: Buffer, start: number, end: number) {
    this.#buf = buf;
    this.#start = start;
    this.#end = end;
  }

  /** records where a fixed-size field is (while the span is read) */
  place(field: number, at: number): void {
    if (field === SPAN_ID) this.#spanIdAt = at;
    else if (field === PARENT) this.#parentAt = at;
    else if (field === START) this.#startAt = at;
    else this.#endAt = at;
  }
  #id(at: number): string {
    return at < 0 ? '' : this.#buf.toString('hex', at, at + 8);
  }
  #time(at: number): bigint {
    return at < 0 ? 0n : this.#buf.readBigUInt64LE(at);
  }

  get spanId(): string {
    return this.#set?.spanId ?? this.#id(this.#spanIdAt);
  }
  set spanId(v: string) {
    (this.#set ??= {}).spanId = v;
  }
  get parentSpanId(): string {
    return this.#set?.parentSpanId ?? this.#id(this.#parentAt);
  }
  set parentSpanId(v: string) {
    (this.#set ??= {}).parentSpanId = v;
  }
  get startTimeUnixNano(): bigint {
    return this.#set?.startTimeUnixNano ?? this.#time(this.#startAt);
  }
  set startTimeUnixNano(v: bigint) {
    (this.#set ??= {}).startTimeUnixNano = v;
  }
  get endTimeUnixNano(): bigint {
    return this.#set?.endTimeUnixNano ?? this.#time(this.#endAt);
  }
  set endTimeUnixNano(v: bigint) {
    (this.#set ??= {}).endTimeUnixNano = v;
  }

  get attributes(): KeyValue[] {
    const set = this.#set;
    if (set?.attributes) return set.attributes;
    const a = this.#bits & ATTRS_ENCODED ? spanAttributes(this.#buf, this.#start, this.#end) : [];
    if (set?.added) a.push(...set.added);
    if (!(this.#bits & RELEASED)) this.attributes = a;
    return a;
  }
  set attributes(v: KeyValue[]) {
    const set = (this.#set ??= {});
    set.attributes = v;
    set.added = undefined;
  }
  addAttribute(kv: KeyValue): void {
    const set = (this.#set ??= {});
    if (set.attributes) set.attributes.push(kv);
    else (set.added ??= []).push(kv);
  }
  get events(): SpanEvent[] {
    const held = this.#set?.events;
    if (held) return held;
    const e = this.#bits & EVENTS_ENCODED ? spanEvents(this.#buf, this.#start, this.#end) : [];
    if (!(this.#bits & RELEASED)) this.events = e;
    return e;
  }
  set events(v: SpanEvent[]) {
    (this.#set ??= {}).events = v;
  }
  get encodedSize(): number {
    return this.#end - this.#start;
  }
  held(): { attributes?: KeyValue[]; events?: SpanEvent[]; added?: KeyValue[] } {
    if (!this.#set) return NOTHING_HELD;
    const out: { attributes?: KeyValue[]; events?: SpanEvent[]; added?: KeyValue[] } = {};
    if (this.#set?.attributes) out.attributes = this.#set.attributes;
    if (this.#set?.events) out.events = this.#set.events;
    if (this.#set?.added) out.added = this.#set.added;
    return out;
  }
  release(): void {
    this.#bits |= RELEASED;
  }
  get verified(): boolean {
    const set = this.#set;
    return this.traceId === this.#traceId && (!set || (set.spanId === undefined && set.parentSpanId === undefined && set.startTimeUnixNano === undefined && set.endTimeUnixNano === undefined));
  }
  /** copies its bytes to `into` at `at` and reads from there from now on; returns the end of the copy */
  moveTo(into: Buffer, at: number): number {
    const delta = at - this.#start;
    this.#buf.copy(into, at, this.#start, this.#end);
    this.#buf = into;
    this.#start += delta;
    this.#end += delta;
    if (this.#spanIdAt >= 0) this.#spanIdAt += delta;
    if (this.#parentAt >= 0) this.#parentAt += delta;
    if (this.#startAt >= 0) this.#startAt += delta;
    if (this.#endAt >= 0) this.#endAt += delta;
    return this.#end;
  }
  /** whether its end time, when set, is before its start time (compared in its bytes: no BigInt per span) */
  endsBeforeStart(): boolean {
    const e = this.#endAt;
    if (e < 0 || this.#set) return this.endTimeUnixNano !== 0n && this.endTimeUnixNano < this.startTimeUnixNano;
    const b = this.#buf;
    const endHi = b.readUInt32LE(e + 4);
    const endLo = b.readUInt32LE(e);
    if (endHi === 0 && endLo === 0) return false;
    const s = this.#startAt;
    const startHi = s < 0 ? 0 : b.readUInt32LE(s + 4);
    const startLo = s < 0 ? 0 : b.readUInt32LE(s);
    return endHi < startHi || (endHi === startHi && endLo < startLo);
  }
  /** records that the span was read whole and passed every check, with this trace ID */
  encoded(attributes: boolean, events: boolean): void {
    this.#traceId = this.traceId;
    this.#bits |= (attributes ? ATTRS_ENCODED : 0) | (events ? EVENTS_ENCODED : 0);
  }
}

function link(r: Reader, end: number): SpanLink | undefined {
  const l: SpanLink = { traceId: '', spanId: '', traceState: '', attributes: [], droppedAttributesCount: 0, flags: 0 };
  while (r.pos < end) {
    const tag = r.varint();
    if (tag === T1_LEN) l.traceId = r.id(end, 16);
    else if (tag === T2_LEN) l.spanId = r.id(end, 8);
    else if (tag === T3_LEN) l.traceState = r.string(end);
    else if (tag === T4_LEN) pushKeyValue(r, end, l.attributes);
    else if (tag === 0x28) l.droppedAttributesCount = r.uint32();
    else if (tag === 0x35) l.flags = r.fixed32();
    else r.skip(tag, end);
  }
  return l.traceId && l.spanId ? l : undefined;
}

/**
 * A span, or the reason it cannot be stored. `lazy`: a WireSpan whose attributes and events are only checked now
 * and decoded when read; otherwise a plain span.
 */
function span(r: Reader, end: number, lazy: boolean): Span | string {
  const start = r.pos;
  const w = lazy ? new WireSpan(r.buf, start, end) : undefined;
  const s: Span = w ?? newSpan({ traceId: '', spanId: '' });
  const attributes = w ? undefined : s.attributes;
  let hasAttributes = false;
  let hasEvents = false;
  let problem = '';
  tooDeep = false;
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case T1_LEN:
        s.traceId = r.traceId(end);
        if (!s.traceId) problem = 'trace_id must be 16 bytes and not all zero';
        break;
      case T2_LEN:
        if (w) {
          const at = r.idAt(end, 8);
          w.place(SPAN_ID, at);
          if (at < 0) problem = 'span_id must be 8 bytes and not all zero';
        } else {
          s.spanId = r.id(end, 8);
          if (!s.spanId) problem = 'span_id must be 8 bytes and not all zero';
        }
        break;
      case T3_LEN:
        s.traceState = r.string(end);
        break;
      case T4_LEN: {
        // an all-zero parent is no parent (OTLP's invalid span ID), as for the other IDs
        const at = r.pos;
        const n = r.len(end) - r.pos;
        r.pos = at;
        if (n === 8) {
          if (w) w.place(PARENT, r.idAt(end, 8));
          else s.parentSpanId = r.id(end, 8);
        } else {
          if (n !== 0) problem = 'parent_span_id must be empty or 8 bytes';
          r.pos = r.len(end);
        }
        break;
      }
      case 0x2a: // name
        s.name = r.string(end);
        break;
      case 0x30: {
        // kind
        const k = r.varint();
        s.kind = k <= 5 ? k : 0;
        break;
      }
      case 0x39: // start_time_unix_nano
        if (w) w.place(START, r.fixed64At());
        else s.startTimeUnixNano = r.fixed64();
        break;
      case 0x41: // end_time_unix_nano
        if (w) w.place(END, r.fixed64At());
        else s.endTimeUnixNano = r.fixed64();
        break;
      case 0x4a: // attributes
        pushKeyValue(r, end, attributes);
        hasAttributes = true;
        break;
      case 0x50:
        s.droppedAttributesCount = r.uint32();
        break;
      case 0x5a: {
        // events
        const e = r.len(end);
        const ev = event(r, e, !w);
        if (!w) s.events.push(ev);
        hasEvents = true;
        r.done(e);
        break;
      }
      case 0x60:
        s.droppedEventsCount = r.uint32();
        break;
      case 0x6a: {
        // links
        const e = r.len(end);
        const l = link(r, e);
        r.done(e);
        if (l) {
          if (s.links === NO_LINKS) s.links = [];
          s.links.push(l);
        } else s.droppedLinksCount = Math.min(MAX_UINT32, s.droppedLinksCount + 1);
        break;
      }
      case 0x70:
        s.droppedLinksCount = Math.min(MAX_UINT32, s.droppedLinksCount + r.uint32());
        break;
      case 0x7a: {
        // status { string message = 2; StatusCode code = 3 }
        const e = r.len(end);
        if (s.status === UNSET) s.status = { code: StatusCode.Unset, message: '' };
        while (r.pos < e) {
          const t = r.varint();
          if (t === T2_LEN) s.status.message = r.string(e);
          else if (t === 0x18) {
            const c = r.varint();
            s.status.code = c <= 2 ? c : 0;
          } else r.skip(t, e);
        }
        break;
      }
      case 0x85: // flags: field 16, fixed32 (two-byte tag 0x85 0x01 reads as 133)
        s.flags = r.fixed32();
        break;
      default:
        r.skip(tag, end);
    }
  }
  if (!problem && !s.traceId) problem = 'trace_id is missing';
  if (!problem && !s.spanId) problem = 'span_id is missing';
  if (!problem && (w ? w.endsBeforeStart() : s.endTimeUnixNano !== 0n && s.endTimeUnixNano < s.startTimeUnixNano)) problem = 'end_time_unix_nano is before start_time_unix_nano';
  if (!problem && tooDeep) problem = TOO_DEEP;
  if (!problem) w?.encoded(hasAttributes, hasEvents);
  return problem || s;
}

export interface DecodedTraces {
  traces: ResourceSpans[];
  spans: number;
  /** spans dropped for unusable IDs or times */
  rejected: number;
  /** the first few reasons, for partial_success.error_message */
  problems: string[];
}

function resource(r: Reader, end: number, res: Resource): void {
  while (r.pos < end) {
    const tag = r.varint();
    if (tag === T1_LEN) pushKeyValue(r, end, res.attributes);
    else if (tag === 0x10) res.droppedAttributesCount = r.uint32();
    else r.skip(tag, end);
  }
}

function scope(r: Reader, end: number, sc: Scope): void {
  while (r.pos < end) {
    const tag = r.varint();
    if (tag === T1_LEN) sc.name = r.string(end);
    else if (tag === T2_LEN) sc.version = r.string(end);
    else if (tag === T3_LEN) pushKeyValue(r, end, sc.attributes);
    else if (tag === 0x20) sc.droppedAttributesCount = r.uint32();
    else r.skip(tag, end);
  }
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
  const lazy = o.lazy === true;
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: DecodedTraces = { traces: [], spans: 0, rejected: 0, problems: [] };
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
    const rs: ResourceSpans = { resource: { attributes: [], droppedAttributesCount: 0 }, schemaUrl: '', scopeSpans: [] };
    let badResource = '';
    while (r.pos < rend) {
      const t2 = r.varint();
      if (t2 === T1_LEN) {
        const e = r.len(rend);
        tooDeep = false;
        resource(r, e, rs.resource);
        if (tooDeep) badResource = `resource: ${TOO_DEEP}`;
        r.done(e);
      } else if (t2 === T2_LEN) {
        where.si++;
        where.ki = -1;
        const send = r.len(rend);
        const ss: ScopeSpans = { scope: { name: '', version: '', attributes: [], droppedAttributesCount: 0 }, schemaUrl: '', spans: [] };
        let badScope = '';
        while (r.pos < send) {
          const t3 = r.varint();
          if (t3 === T1_LEN) {
            const e = r.len(send);
            tooDeep = false;
            scope(r, e, ss.scope);
            if (tooDeep) badScope = `scope: ${TOO_DEEP}`;
            r.done(e);
          } else if (t3 === T2_LEN) {
            where.ki++;
            const e = r.len(send);
            const res = span(r, e, lazy);
            r.done(e);
            out.spans++;
            if (typeof res !== 'string') ss.spans.push(res);
            else {
              out.rejected++;
              if (out.problems.length < 5) out.problems.push(`resourceSpans[${where.ri}].scopeSpans[${where.si}].spans[${where.ki}]: ${res}`);
            }
          } else if (t3 === T3_LEN) ss.schemaUrl = r.string(send);
          else r.skip(t3, send);
        }
        where.ki = -1;
        // resource and scope may come after the spans on the wire: judge them once the message is read
        const bad = badResource || badScope;
        if (bad && ss.spans.length) {
          out.rejected += ss.spans.length;
          if (out.problems.length < 5) out.problems.push(`resourceSpans[${where.ri}].scopeSpans[${where.si}]: ${bad}`);
        } else if (ss.spans.length) rs.scopeSpans.push(ss);
      } else if (t2 === T3_LEN) rs.schemaUrl = r.string(rend);
      else r.skip(t2, rend);
    }
    where.si = -1;
    if (badResource && rs.scopeSpans.length) {
      // the resource came after some of its scopes
      out.rejected += rs.scopeSpans.reduce((n, x) => n + x.spans.length, 0);
      if (out.problems.length < 5) out.problems.push(`resourceSpans[${where.ri}]: ${badResource}`);
    } else if (rs.scopeSpans.length) out.traces.push(rs);
  }
  if (lazy) compact(out.traces, bytes);
  return out;
}

// ---- encoding ----

function writeAny(w: Writer, v: AttrValue): void {
  if (v === null) return;
  switch (typeof v) {
    case 'string':
      w.bytes(1, Buffer.from(v, 'utf8'));
      return;
    case 'boolean':
      w.tag(2, VARINT).varint(v ? 1 : 0);
      return;
    case 'bigint':
      w.tag(3, VARINT).varint(v);
      return;
    case 'number':
      w.double(4, v);
      return;
  }
  if (v instanceof Uint8Array) w.bytes(7, Buffer.from(v));
  else if ('array' in v) w.message(5, (a) => v.array.forEach((x) => a.message(1, (m) => writeAny(m, x))));
  else w.message(6, (k) => writeAttributes(k, 1, v.kvlist));
}

export function writeAttributes(w: Writer, field: number, attrs: readonly KeyValue[]): void {
  for (const a of attrs) w.message(field, (m) => m.string(1, a.key).message(2, (x) => writeAny(x, a.value)));
}

function writeSpan(w: Writer, s: Span): void {
  w.bytes(1, Buffer.from(s.traceId, 'hex')).bytes(2, Buffer.from(s.spanId, 'hex')).string(3, s.traceState);
  if (s.parentSpanId) w.bytes(4, Buffer.from(s.parentSpanId, 'hex'));
  w.string(5, s.name).uint(6, s.kind).fixed64(7, s.startTimeUnixNano).fixed64(8, s.endTimeUnixNano);
  writeAttributes(w, 9, s.attributes);
  w.uint(10, s.droppedAttributesCount);
  for (const e of s.events) w.message(11, (m) => { m.fixed64(1, e.timeUnixNano).string(2, e.name); writeAttributes(m, 3, e.attributes); m.uint(4, e.droppedAttributesCount); });
  w.uint(12, s.droppedEventsCount);
  for (const l of s.links) {
    w.message(13, (m) => {
      m.bytes(1, Buffer.from(l.traceId, 'hex')).bytes(2, Buffer.from(l.spanId, 'hex')).string(3, l.traceState);
      writeAttributes(m, 4, l.attributes);
      m.uint(5, l.droppedAttributesCount);
      if (l.flags) m.fixed32(6, l.flags);
    });
  }
  w.uint(14, s.droppedLinksCount);
  if (s.status.code || s.status.message) w.message(15, (m) => m.string(2, s.status.message).uint(3, s.status.code));
  if (s.flags) w.fixed32(16, s.flags);
}

/** Encodes TracesData / ExportTraceServiceRequest. */
export function encodeTracesProto(traces: readonly ResourceSpans[]): Buffer {
  const w = new Writer();
  for (const rs of traces) {
    w.message(1, (r) => {
      r.message(1, (m) => {
        writeAttributes(m, 1, rs.resource.attributes);
        m.uint(2, rs.resource.droppedAttributesCount);
      });
      for (const ss of rs.scopeSpans) {
        r.message(2, (m) => {
          m.message(1, (sc) => {
            sc.string(1, ss.scope.name).string(2, ss.scope.version);
            writeAttributes(sc, 3, ss.scope.attributes);
            sc.uint(4, ss.scope.droppedAttributesCount);
          });
          for (const s of ss.spans) m.message(2, (x) => writeSpan(x, s));
          m.string(3, ss.schemaUrl);
        });
      }
      r.string(3, rs.schemaUrl);
    });
  }
  return w.finish();
}

/** ExportTraceServiceResponse, with partial_success when spans were rejected. */
export function encodeExportResponse(rejected: number, message: string): Buffer {
  if (!rejected && !message) return Buffer.alloc(0);
  const w = new Writer();
  w.message(1, (p) => {
    if (rejected) p.tag(1, VARINT).varint(rejected);
    p.string(2, message);
  });
  return w.finish();
}

const RETRY_INFO_TYPE = 'type.googleapis.com/google.rpc.RetryInfo';

/**
 * google.rpc.Status, the error body of OTLP/HTTP and the `grpc-status-details-bin` of OTLP/gRPC. With `retryAfterMs`
 * it carries a google.rpc.RetryInfo: OTLP clients retry RESOURCE_EXHAUSTED only when the server says recovery is
 * possible this way, and drop the data otherwise.
 */
export function encodeRpcStatus(code: number, message: string, retryAfterMs?: number): Buffer {
  const w = new Writer().uint(1, code).string(2, message);
  if (retryAfterMs !== undefined) {
    const seconds = Math.floor(retryAfterMs / 1000);
    const nanos = (retryAfterMs % 1000) * 1_000_000;
    // details: Any { type_url, value: RetryInfo { retry_delay: Duration { seconds, nanos } } }
    w.message(3, (any) => any.string(1, RETRY_INFO_TYPE).message(2, (ri) => ri.message(1, (d) => d.uint(1, seconds).uint(2, nanos))));
  }
  return w.finish();
}
