// Decoders of the OTLP protobuf messages below a span (AnyValue, KeyValue, Event, Link) and of Resource and
// InstrumentationScope, each over a Reader and the end offset of its message. With `build` false (or no target) a
// decoder runs every check of a real decode and allocates nothing: spans are checked this way when a request
// arrives and decoded later, from the same bytes, when read.
import { Reader, type Where } from './proto-wire.js';
import { type AttrValue, type KeyValue, MAX_VALUE_DEPTH, type Resource, type Scope, type SpanEvent, type SpanLink } from '../storage/api/model.js';

// tags: (field << 3) | wire type
export const T1_LEN = 0x0a;
export const T2_LEN = 0x12;
export const T3_LEN = 0x1a;
export const T4_LEN = 0x22;

// Set when a value nested deeper than MAX_VALUE_DEPTH was skipped; the span (or resource, or scope) holding it is
// rejected. Decoding is synchronous, so one flag serves: it is cleared before each span, resource and scope.
let tooDeep = false;
export const TOO_DEEP = `an attribute value is nested deeper than ${MAX_VALUE_DEPTH} levels of arrays and key-value lists: flatten it`;
/** clears the too-deep flag before a span, resource or scope is read */
export function clearTooDeep(): void {
  tooDeep = false;
}
/** whether a value nested too deep was skipped since the last clearTooDeep */
export function wasTooDeep(): boolean {
  return tooDeep;
}

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
export function pushKeyValue(r: Reader, end: number, into: KeyValue[] | undefined): void {
  const e = r.len(end);
  const kv = keyValue(r, e, 0, into !== undefined);
  into?.push(kv);
  r.done(e);
}

export function event(r: Reader, end: number, build = true): SpanEvent {
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

/** one Link message, or undefined when its trace or span ID is unusable (the span counts it as dropped) */
export function link(r: Reader, end: number): SpanLink | undefined {
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

/** whether a Link message has usable IDs (the span counts it as dropped otherwise), checked without building it */
export function linkIsValid(r: Reader, end: number): boolean {
  let trace = false;
  let span = false;
  while (r.pos < end) {
    const tag = r.varint();
    if (tag === T1_LEN) trace = r.idAt(end, 16) >= 0;
    else if (tag === T2_LEN) span = r.idAt(end, 8) >= 0;
    else if (tag === T3_LEN) r.pos = r.len(end);
    else if (tag === T4_LEN) pushKeyValue(r, end, undefined);
    else if (tag === 0x28) r.uint32();
    else if (tag === 0x35) r.fixed32();
    else r.skip(tag, end);
  }
  return trace && span;
}

/** a Resource message, its attributes added to `res` (or only checked, without `res`) */
export function resource(r: Reader, end: number, res: Resource | undefined): void {
  while (r.pos < end) {
    const tag = r.varint();
    if (tag === T1_LEN) pushKeyValue(r, end, res?.attributes);
    else if (tag === 0x10) {
      const n = r.uint32();
      if (res) res.droppedAttributesCount = n;
    } else r.skip(tag, end);
  }
}

/** an InstrumentationScope message into `sc` (or only checked, without `sc`) */
export function scope(r: Reader, end: number, sc: Scope | undefined): void {
  while (r.pos < end) {
    const tag = r.varint();
    if (tag === T1_LEN) {
      if (sc) sc.name = r.string(end);
      else r.pos = r.len(end);
    } else if (tag === T2_LEN) {
      if (sc) sc.version = r.string(end);
      else r.pos = r.len(end);
    } else if (tag === T3_LEN) pushKeyValue(r, end, sc?.attributes);
    else if (tag === 0x20) {
      const n = r.uint32();
      if (sc) sc.droppedAttributesCount = n;
    } else r.skip(tag, end);
  }
}

const NO_WHERE: Where = { ri: -1, si: -1, ki: -1 };

/** the attributes (field 9) of the span message [start, end), which was checked when it was read */
export function spanAttributes(buf: Buffer, start: number, end: number): KeyValue[] {
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
export function spanEvents(buf: Buffer, start: number, end: number): SpanEvent[] {
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
