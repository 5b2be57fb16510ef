// OTLP protobuf (opentelemetry.proto.trace.v1 / collector.trace.v1) straight to and from the storage model:
// one pass over the bytes, no intermediate message objects. Unknown fields are skipped (forward compatible).
// Structural damage (truncation, bad wire types) throws InvalidArgumentError for the whole request; a span
// with an unusable trace or span ID is dropped and counted, so the receiver can answer partial_success.
import { InvalidArgumentError } from './errors.js';
import type { AttrValue, KeyValue, Resource, ResourceSpans, Scope, ScopeSpans, Span, SpanEvent, SpanLink } from './model.js';

const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;

class Reader {
  pos: number;
  constructor(
    readonly buf: Buffer,
    start: number,
    readonly end: number,
    readonly path: string,
  ) {
    this.pos = start;
  }

  fail(what: string): never {
    throw new InvalidArgumentError(this.path, `malformed protobuf: ${what} at byte ${this.pos}`);
  }

  /** an unsigned varint as a number (exact up to 2^53: tags, lengths, enums, counts) */
  varint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) this.fail('truncated varint');
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 128;
    }
    return this.fail('varint too long');
  }

  varint64(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.end) this.fail('truncated varint');
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return BigInt.asIntN(64, result);
      shift += 7n;
      if (shift > 63n) this.fail('varint too long');
    }
  }

  fixed64(): bigint {
    if (this.pos + 8 > this.end) this.fail('truncated fixed64');
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return v;
  }

  double(): number {
    if (this.pos + 8 > this.end) this.fail('truncated double');
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }

  fixed32(): number {
    if (this.pos + 4 > this.end) this.fail('truncated fixed32');
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  /** the [start, end) of a length-delimited field */
  bytes(): [number, number] {
    const n = this.varint();
    const s = this.pos;
    if (s + n > this.end) this.fail('length beyond the end of the message');
    this.pos = s + n;
    return [s, s + n];
  }

  string(): string {
    const [s, e] = this.bytes();
    return this.buf.toString('utf8', s, e);
  }

  skip(wire: number): void {
    if (wire === VARINT) this.varint64();
    else if (wire === I64) this.fixed64();
    else if (wire === LEN) this.bytes();
    else if (wire === I32) this.fixed32();
    else this.fail(`unsupported wire type ${wire}`);
  }

  /** Calls fn(field, wire) for every field; fn returns false for fields it did not consume. */
  fields(fn: (field: number, wire: number) => boolean): void {
    while (this.pos < this.end) {
      const tag = this.varint();
      const field = tag >>> 3;
      const wire = tag & 7;
      if (field === 0) this.fail('field number 0');
      if (!fn(field, wire)) this.skip(wire);
    }
  }

  sub(path: string): Reader {
    const [s, e] = this.bytes();
    return new Reader(this.buf, s, e, path);
  }
}

function expectWire(r: Reader, wire: number, want: number, field: string): void {
  if (wire !== want) r.fail(`field ${field} has wire type ${wire}, expected ${want}`);
}

function anyValue(r: Reader): AttrValue {
  let v: AttrValue = null;
  r.fields((f, w) => {
    switch (f) {
      case 1:
        expectWire(r, w, LEN, 'string_value');
        v = r.string();
        return true;
      case 2:
        expectWire(r, w, VARINT, 'bool_value');
        v = r.varint() !== 0;
        return true;
      case 3:
        expectWire(r, w, VARINT, 'int_value');
        v = r.varint64();
        return true;
      case 4:
        expectWire(r, w, I64, 'double_value');
        v = r.double();
        return true;
      case 5: {
        expectWire(r, w, LEN, 'array_value');
        const arr: AttrValue[] = [];
        const sub = r.sub(`${r.path}.arrayValue`);
        sub.fields((f2, w2) => {
          if (f2 !== 1) return false;
          expectWire(sub, w2, LEN, 'values');
          arr.push(anyValue(sub.sub(`${sub.path}.values`)));
          return true;
        });
        v = { array: arr };
        return true;
      }
      case 6: {
        expectWire(r, w, LEN, 'kvlist_value');
        const list: KeyValue[] = [];
        const sub = r.sub(`${r.path}.kvlistValue`);
        sub.fields((f2, w2) => {
          if (f2 !== 1) return false;
          expectWire(sub, w2, LEN, 'values');
          list.push(keyValue(sub.sub(`${sub.path}.values`)));
          return true;
        });
        v = { kvlist: list };
        return true;
      }
      case 7: {
        expectWire(r, w, LEN, 'bytes_value');
        const [s, e] = r.bytes();
        v = new Uint8Array(r.buf.subarray(s, e));
        return true;
      }
    }
    return false;
  });
  return v;
}

function keyValue(r: Reader): KeyValue {
  const kv: KeyValue = { key: '', value: null };
  r.fields((f, w) => {
    if (f === 1) {
      expectWire(r, w, LEN, 'key');
      kv.key = r.string();
      return true;
    }
    if (f === 2) {
      expectWire(r, w, LEN, 'value');
      kv.value = anyValue(r.sub(`${r.path}.value`));
      return true;
    }
    return false;
  });
  return kv;
}

const ZERO16 = '0'.repeat(16);
const ZERO32 = '0'.repeat(32);

/** hex of an ID field, or undefined when its length is wrong or it is all zero */
function id(r: Reader, size: number): string | undefined {
  const [s, e] = r.bytes();
  if (e - s !== size) return undefined;
  const h = r.buf.toString('hex', s, e);
  return h === (size === 16 ? ZERO32 : ZERO16) ? undefined : h;
}

interface SpanResult {
  span?: Span;
  problem?: string;
}

function event(r: Reader): SpanEvent {
  const e: SpanEvent = { timeUnixNano: 0n, name: '', attributes: [], droppedAttributesCount: 0 };
  r.fields((f, w) => {
    if (f === 1 && w === I64) e.timeUnixNano = r.fixed64();
    else if (f === 2 && w === LEN) e.name = r.string();
    else if (f === 3 && w === LEN) e.attributes.push(keyValue(r.sub(`${r.path}.attributes`)));
    else if (f === 4 && w === VARINT) e.droppedAttributesCount = r.varint();
    else return false;
    return true;
  });
  return e;
}

function link(r: Reader): SpanLink | undefined {
  const l: SpanLink = { traceId: '', spanId: '', traceState: '', attributes: [], droppedAttributesCount: 0, flags: 0 };
  let ok = true;
  r.fields((f, w) => {
    if (f === 1 && w === LEN) {
      const t = id(r, 16);
      if (t) l.traceId = t;
      else ok = false;
    } else if (f === 2 && w === LEN) {
      const s = id(r, 8);
      if (s) l.spanId = s;
      else ok = false;
    } else if (f === 3 && w === LEN) l.traceState = r.string();
    else if (f === 4 && w === LEN) l.attributes.push(keyValue(r.sub(`${r.path}.attributes`)));
    else if (f === 5 && w === VARINT) l.droppedAttributesCount = r.varint();
    else if (f === 6 && w === I32) l.flags = r.fixed32();
    else return false;
    return true;
  });
  return ok && l.traceId && l.spanId ? l : undefined;
}

function span(r: Reader): SpanResult {
  const s: Span = {
    traceId: '',
    spanId: '',
    traceState: '',
    parentSpanId: '',
    flags: 0,
    name: '',
    kind: 0,
    startTimeUnixNano: 0n,
    endTimeUnixNano: 0n,
    attributes: [],
    droppedAttributesCount: 0,
    events: [],
    droppedEventsCount: 0,
    links: [],
    droppedLinksCount: 0,
    status: { code: 0, message: '' },
  };
  let problem: string | undefined;
  r.fields((f, w) => {
    switch (f) {
      case 1: {
        expectWire(r, w, LEN, 'trace_id');
        const t = id(r, 16);
        if (t) s.traceId = t;
        else problem = 'trace_id must be 16 bytes and not all zero';
        return true;
      }
      case 2: {
        expectWire(r, w, LEN, 'span_id');
        const x = id(r, 8);
        if (x) s.spanId = x;
        else problem = 'span_id must be 8 bytes and not all zero';
        return true;
      }
      case 3:
        expectWire(r, w, LEN, 'trace_state');
        s.traceState = r.string();
        return true;
      case 4: {
        expectWire(r, w, LEN, 'parent_span_id');
        const [bs, be] = r.bytes();
        if (be - bs === 8) s.parentSpanId = r.buf.toString('hex', bs, be);
        else if (be !== bs) problem = 'parent_span_id must be empty or 8 bytes';
        return true;
      }
      case 5:
        expectWire(r, w, LEN, 'name');
        s.name = r.string();
        return true;
      case 6: {
        expectWire(r, w, VARINT, 'kind');
        const k = r.varint();
        s.kind = k >= 0 && k <= 5 ? k : 0;
        return true;
      }
      case 7:
        expectWire(r, w, I64, 'start_time_unix_nano');
        s.startTimeUnixNano = r.fixed64();
        return true;
      case 8:
        expectWire(r, w, I64, 'end_time_unix_nano');
        s.endTimeUnixNano = r.fixed64();
        return true;
      case 9:
        expectWire(r, w, LEN, 'attributes');
        s.attributes.push(keyValue(r.sub(`${r.path}.attributes`)));
        return true;
      case 10:
        expectWire(r, w, VARINT, 'dropped_attributes_count');
        s.droppedAttributesCount = r.varint();
        return true;
      case 11:
        expectWire(r, w, LEN, 'events');
        s.events.push(event(r.sub(`${r.path}.events`)));
        return true;
      case 12:
        expectWire(r, w, VARINT, 'dropped_events_count');
        s.droppedEventsCount = r.varint();
        return true;
      case 13: {
        expectWire(r, w, LEN, 'links');
        const l = link(r.sub(`${r.path}.links`));
        if (l) s.links.push(l);
        else s.droppedLinksCount++;
        return true;
      }
      case 14:
        expectWire(r, w, VARINT, 'dropped_links_count');
        s.droppedLinksCount += r.varint();
        return true;
      case 15: {
        expectWire(r, w, LEN, 'status');
        const sub = r.sub(`${r.path}.status`);
        sub.fields((f2, w2) => {
          if (f2 === 2 && w2 === LEN) s.status.message = sub.string();
          else if (f2 === 3 && w2 === VARINT) {
            const c = sub.varint();
            s.status.code = c >= 0 && c <= 2 ? c : 0;
          } else return false;
          return true;
        });
        return true;
      }
      case 16:
        expectWire(r, w, I32, 'flags');
        s.flags = r.fixed32();
        return true;
    }
    return false;
  });
  if (!problem && !s.traceId) problem = 'trace_id is missing';
  if (!problem && !s.spanId) problem = 'span_id is missing';
  if (!problem && s.endTimeUnixNano !== 0n && s.endTimeUnixNano < s.startTimeUnixNano) problem = 'end_time_unix_nano is before start_time_unix_nano';
  return problem ? { problem } : { span: s };
}

function attributesOwner(r: Reader, attrs: KeyValue[], droppedField: number, attrField: number, onDropped: (n: number) => void, extra?: (f: number, w: number) => boolean): void {
  r.fields((f, w) => {
    if (f === attrField && w === LEN) attrs.push(keyValue(r.sub(`${r.path}.attributes`)));
    else if (f === droppedField && w === VARINT) onDropped(r.varint());
    else return extra ? extra(f, w) : false;
    return true;
  });
}

export interface DecodedTraces {
  traces: ResourceSpans[];
  spans: number;
  /** spans dropped for unusable IDs or times */
  rejected: number;
  /** the first few reasons, for partial_success.error_message */
  problems: string[];
}

/** Decodes ExportTraceServiceRequest / TracesData (same field 1: repeated ResourceSpans). */
export function decodeTracesProto(bytes: Uint8Array): DecodedTraces {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: DecodedTraces = { traces: [], spans: 0, rejected: 0, problems: [] };
  const root = new Reader(buf, 0, buf.length, 'request');
  let ri = 0;
  root.fields((f, w) => {
    if (f !== 1) return false;
    expectWire(root, w, LEN, 'resource_spans');
    const path = `resourceSpans[${ri++}]`;
    const rr = root.sub(path);
    const rs: ResourceSpans = { resource: { attributes: [], droppedAttributesCount: 0 }, schemaUrl: '', scopeSpans: [] };
    let si = 0;
    rr.fields((f2, w2) => {
      if (f2 === 1 && w2 === LEN) {
        const res: Resource = rs.resource;
        attributesOwner(rr.sub(`${path}.resource`), res.attributes, 2, 1, (n) => (res.droppedAttributesCount = n));
      } else if (f2 === 2 && w2 === LEN) {
        const spath = `${path}.scopeSpans[${si++}]`;
        const sr = rr.sub(spath);
        const ss: ScopeSpans = { scope: { name: '', version: '', attributes: [], droppedAttributesCount: 0 }, schemaUrl: '', spans: [] };
        let ki = 0;
        sr.fields((f3, w3) => {
          if (f3 === 1 && w3 === LEN) {
            const sc: Scope = ss.scope;
            const scr = sr.sub(`${spath}.scope`);
            attributesOwner(scr, sc.attributes, 4, 3, (n) => (sc.droppedAttributesCount = n), (f4, w4) => {
              if (f4 === 1 && w4 === LEN) sc.name = scr.string();
              else if (f4 === 2 && w4 === LEN) sc.version = scr.string();
              else return false;
              return true;
            });
          } else if (f3 === 2 && w3 === LEN) {
            const spanPath = `${spath}.spans[${ki++}]`;
            const res = span(sr.sub(spanPath));
            out.spans++;
            if (res.span) ss.spans.push(res.span);
            else {
              out.rejected++;
              if (out.problems.length < 5) out.problems.push(`${spanPath}: ${res.problem}`);
            }
          } else if (f3 === 3 && w3 === LEN) ss.schemaUrl = sr.string();
          else return false;
          return true;
        });
        if (ss.spans.length) rs.scopeSpans.push(ss);
      } else if (f2 === 3 && w2 === LEN) rs.schemaUrl = rr.string();
      else return false;
      return true;
    });
    if (rs.scopeSpans.length) out.traces.push(rs);
    return true;
  });
  return out;
}

// ---- encoding ----

class Writer {
  private chunks: Buffer[] = [];
  private cur = Buffer.allocUnsafe(4096);
  private pos = 0;

  private ensure(n: number): void {
    if (this.pos + n <= this.cur.length) return;
    this.chunks.push(this.cur.subarray(0, this.pos));
    this.cur = Buffer.allocUnsafe(Math.max(4096, n));
    this.pos = 0;
  }

  varint(v: number | bigint): this {
    let x = BigInt.asUintN(64, BigInt(v));
    this.ensure(10);
    while (x >= 0x80n) {
      this.cur[this.pos++] = Number(x & 0x7fn) | 0x80;
      x >>= 7n;
    }
    this.cur[this.pos++] = Number(x);
    return this;
  }

  tag(field: number, wire: number): this {
    return this.varint((field << 3) | wire);
  }

  raw(b: Buffer): this {
    this.ensure(b.length);
    b.copy(this.cur, this.pos);
    this.pos += b.length;
    return this;
  }

  fixed64(field: number, v: bigint): this {
    this.tag(field, I64).ensure(8);
    this.cur.writeBigUInt64LE(BigInt.asUintN(64, v), this.pos);
    this.pos += 8;
    return this;
  }

  fixed32(field: number, v: number): this {
    this.tag(field, I32).ensure(4);
    this.cur.writeUInt32LE(v >>> 0, this.pos);
    this.pos += 4;
    return this;
  }

  double(field: number, v: number): this {
    this.tag(field, I64).ensure(8);
    this.cur.writeDoubleLE(v, this.pos);
    this.pos += 8;
    return this;
  }

  bytes(field: number, b: Buffer): this {
    return this.tag(field, LEN).varint(b.length).raw(b);
  }

  string(field: number, s: string): this {
    return s ? this.bytes(field, Buffer.from(s, 'utf8')) : this;
  }

  uint(field: number, v: number): this {
    return v ? this.tag(field, VARINT).varint(v) : this;
  }

  message(field: number, fn: (w: Writer) => void): this {
    const w = new Writer();
    fn(w);
    return this.bytes(field, w.finish());
  }

  finish(): Buffer {
    return Buffer.concat([...this.chunks, this.cur.subarray(0, this.pos)]);
  }
}

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

function writeAttributes(w: Writer, field: number, attrs: readonly KeyValue[]): void {
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

/** google.rpc.Status, the error body of OTLP/HTTP. */
export function encodeRpcStatus(code: number, message: string): Buffer {
  return new Writer().uint(1, code).string(2, message).finish();
}
