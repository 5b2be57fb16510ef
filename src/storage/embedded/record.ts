// The span record of the embedded store: a compact binary encoding of one span and the numbers of its resource and
// scope. The trace ID, start time and span ID live in the record's key (./keys.ts) and are not repeated. A third of
// the bytes of the span's OTLP/JSON and no text parsing on reads; the store's format version covers its layout.
//   record  resource scope parent(0|8 after a length byte) flags kind(u8) duration
//           traceState name  attributes droppedAttributes  events droppedEvents  links droppedLinks
//           status.code(u8) status.message
//   resource and scope are varints, their numbers in meta (./keys.ts); strings, counts and flags are varints
//   (strings: UTF-8 byte length first); duration is end - start + 1, or 0 and the end as u64 when that does not
//   fit; an attribute is its key (a varint: 1 + its number in the store's key dictionary, or 0 and the key as a
//   string) and its value, a type byte and its payload (small ints zigzag varints).
import { createHash } from 'node:crypto';
import { type AttrValue, type KeyValue, type Span, type SpanEvent, type SpanLink, StorageError } from '../api/index.js';

/** What a damaged record fails with while it is read; decodeRecord reports it with the record's key. */
class Damaged extends Error {}

const NULL = 0;
const STR = 1;
const TRUE = 2;
const FALSE = 3;
const INT = 4;
const DOUBLE = 5;
const BYTES = 6;
const ARRAY = 7;
const KVLIST = 8;
const SMALL_INT = 9;

/** Integers as exact doubles: what the varint of a number may carry. */
const MAX_VARNUM = 2 ** 52;

/** Numbers for attribute keys: the store keeps the names once, records carry the numbers. */
export interface KeyDictionary {
  /** 1 + the key's number, or 0 to write the key itself */
  idOf(key: string): number;
  /** the key numbered `id` (as idOf gave 1 + id) */
  keyOf(id: number): string;
}

class Out {
  buf = Buffer.allocUnsafe(1024);
  pos = 0;

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const b = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(b, 0, 0, this.pos);
    this.buf = b;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  varint(v: number): void {
    this.ensure(5);
    let x = v >>> 0;
    while (x >= 0x80) {
      this.buf[this.pos++] = (x & 0x7f) | 0x80;
      x >>>= 7;
    }
    this.buf[this.pos++] = x;
  }

  /** a non-negative integer below MAX_VARNUM */
  varnum(v: number): void {
    this.ensure(8);
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
  }

  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32BE(v >>> 0, this.pos);
    this.pos += 4;
  }

  u64(v: bigint): void {
    this.ensure(8);
    this.buf.writeBigUInt64BE(BigInt.asUintN(64, v), this.pos);
    this.pos += 8;
  }

  raw(b: Uint8Array): void {
    this.varint(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  str(s: string): void {
    const len = s.length;
    if (len < 128) {
      // the common short ASCII string: one length byte and the characters as they are
      this.ensure(len + 1);
      const b = this.buf;
      const at = this.pos;
      let i = 0;
      for (; i < len; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        b[at + 1 + i] = c;
      }
      if (i === len) {
        b[at] = len;
        this.pos = at + 1 + len;
        return;
      }
    }
    this.ensure(len * 3 + 5);
    // the length goes first: write the bytes after room for the longest varint, then move them if it is shorter
    const at = this.pos;
    const n = this.buf.write(s, at + 5, 'utf8');
    this.varint(n);
    if (this.pos !== at + 5) this.buf.copy(this.buf, this.pos, at + 5, at + 5 + n);
    this.pos += n;
  }

  value(v: AttrValue): void {
    if (v === null) return this.u8(NULL);
    switch (typeof v) {
      case 'string':
        this.u8(STR);
        return this.str(v);
      case 'boolean':
        return this.u8(v ? TRUE : FALSE);
      case 'bigint':
        if (v > -MAX_VARNUM_N && v < MAX_VARNUM_N) {
          const n = Number(v);
          this.u8(SMALL_INT);
          return this.varnum(n < 0 ? -2 * n - 1 : 2 * n);
        }
        this.u8(INT);
        return this.u64(v);
      case 'number':
        this.u8(DOUBLE);
        this.ensure(8);
        this.buf.writeDoubleBE(v, this.pos);
        this.pos += 8;
        return;
    }
    if (v instanceof Uint8Array) {
      this.u8(BYTES);
      return this.raw(v);
    }
    if ('array' in v) {
      this.u8(ARRAY);
      this.varint(v.array.length);
      for (const x of v.array) this.value(x);
      return;
    }
    this.u8(KVLIST);
    this.attrs(v.kvlist);
  }

  dict: KeyDictionary | undefined;

  attrs(a: readonly KeyValue[]): void {
    this.varint(a.length);
    for (const kv of a) {
      const id = this.dict ? this.dict.idOf(kv.key) : 0;
      this.varint(id);
      if (!id) this.str(kv.key);
      this.value(kv.value);
    }
  }
}

const MAX_VARNUM_N = BigInt(MAX_VARNUM) / 2n;
const out = new Out();

/**
 * A 64-bit hash of `b`: which record or posting a key stands for, so the same content written again lands on the
 * same key. Short buffers (span records) through two 32-bit multiply-xor lanes in JS, which costs less than a
 * native digest's call; long ones (postings) through SHA-1.
 */
export function contentHash(b: Buffer): Buffer {
  if (b.length >= 1024) return createHash('sha1').update(b).digest().subarray(0, 8);
  let h1 = 0x811c9dc5 ^ b.length;
  let h2 = 0x01000193;
  const n = b.length & ~3;
  let i = 0;
  for (; i < n; i += 4) {
    const c = b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h1 ^= h1 >>> 15;
    h2 = Math.imul(h2 ^ c, 0x5bd1e995);
    h2 ^= h2 >>> 13;
  }
  for (; i < b.length; i++) {
    h1 = Math.imul(h1 ^ b[i]!, 0x01000193);
    h2 = Math.imul(h2 ^ b[i]!, 0x5bd1e995);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 0x85ebca6b);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 0xc2b2ae35);
  const o = Buffer.allocUnsafe(8);
  o.writeUInt32BE(h1 >>> 0, 0);
  o.writeUInt32BE((h2 ^ (h2 >>> 13)) >>> 0, 4);
  return o;
}

/** The record of `span` (its trace ID, start and span ID go into the key). */
export function encodeRecord(resource: number, scope: number, s: Span, dict: KeyDictionary): Buffer {
  const o = out;
  o.pos = 0;
  o.dict = dict;
  o.varnum(resource);
  o.varnum(scope);
  if (s.parentSpanId) o.raw(Buffer.from(s.parentSpanId, 'hex'));
  else o.u8(0);
  o.varnum(s.flags >>> 0);
  o.u8(s.kind);
  const d = s.endTimeUnixNano - s.startTimeUnixNano;
  if (d >= 0n && d < MAX_VARNUM_N) o.varnum(Number(d) + 1);
  else {
    o.u8(0);
    o.u64(s.endTimeUnixNano);
  }
  o.str(s.traceState);
  o.str(s.name);
  o.attrs(s.attributes);
  o.varint(s.droppedAttributesCount);
  o.varint(s.events.length);
  for (const e of s.events) {
    o.u64(e.timeUnixNano);
    o.str(e.name);
    o.attrs(e.attributes);
    o.varint(e.droppedAttributesCount);
  }
  o.varint(s.droppedEventsCount);
  o.varint(s.links.length);
  for (const l of s.links) {
    o.raw(Buffer.from(l.traceId, 'hex'));
    o.raw(Buffer.from(l.spanId, 'hex'));
    o.str(l.traceState);
    o.attrs(l.attributes);
    o.varint(l.droppedAttributesCount);
    o.varnum(l.flags >>> 0);
  }
  o.varint(s.droppedLinksCount);
  o.u8(s.status.code);
  o.str(s.status.message);
  o.dict = undefined;
  return Buffer.from(o.buf.subarray(0, o.pos));
}

class In {
  pos = 0;
  constructor(
    readonly buf: Buffer,
    readonly dict: KeyDictionary,
  ) {}

  u8(): number {
    if (this.pos >= this.buf.length) throw new Damaged('truncated');
    return this.buf[this.pos++]!;
  }

  /** Checks that `n` more bytes are there. */
  need(n: number): void {
    if (this.pos + n > this.buf.length) throw new Damaged(`truncated: ${n} bytes at ${this.pos} of ${this.buf.length}`);
  }

  varint(): number {
    let v = 0;
    for (let mul = 1; ; mul *= 0x80) {
      const b = this.u8();
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      if (mul > MAX_VARNUM) throw new Damaged('overlong varint');
    }
  }

  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  u64(): bigint {
    this.need(8);
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  raw(): Buffer {
    const n = this.varint();
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  hex(): string {
    const n = this.varint();
    this.need(n);
    const s = this.buf.toString('hex', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }

  str(): string {
    const n = this.varint();
    if (!n) return '';
    this.need(n);
    const s = this.buf.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }

  value(): AttrValue {
    const t = this.u8();
    switch (t) {
      case NULL:
        return null;
      case STR:
        return this.str();
      case TRUE:
        return true;
      case FALSE:
        return false;
      case INT:
        return BigInt.asIntN(64, this.u64());
      case SMALL_INT: {
        const z = this.varint();
        return BigInt(z % 2 ? -(z + 1) / 2 : z / 2);
      }
      case DOUBLE: {
        this.need(8);
        const v = this.buf.readDoubleBE(this.pos);
        this.pos += 8;
        return v;
      }
      case BYTES:
        return new Uint8Array(this.raw());
      case ARRAY: {
        const n = this.varint();
        const array: AttrValue[] = [];
        for (let i = 0; i < n; i++) array.push(this.value());
        return { array };
      }
      case KVLIST:
        return { kvlist: this.attrs() };
    }
    throw new Damaged(`unknown value type ${t}`);
  }

  attrs(): KeyValue[] {
    const n = this.varint();
    const a: KeyValue[] = [];
    for (let i = 0; i < n; i++) {
      const id = this.varint();
      a.push({ key: id ? this.dict.keyOf(id - 1) : this.str(), value: this.value() });
    }
    return a;
  }
}

export interface DecodedRecord {
  resource: number;
  scope: number;
  span: Span;
}

/** The span of a record, with the trace ID, start and span ID taken from its key (see ./keys.ts). */
export function decodeRecord(k: Buffer, raw: Buffer, dict: KeyDictionary): DecodedRecord {
  try {
    return decode(k, raw, dict);
  } catch (e) {
    if (e instanceof Damaged || e instanceof RangeError || (e instanceof StorageError && e.code === 'Internal')) {
      throw new StorageError('Internal', `the embedded store holds a damaged span record (key ${k.toString('hex')}): ${e.message}`);
    }
    throw e;
  }
}

function decode(k: Buffer, raw: Buffer, dict: KeyDictionary): DecodedRecord {
  if (k.length !== 40) throw new Damaged(`a key of ${k.length} bytes`);
  const r = new In(raw, dict);
  const resource = r.varint();
  const scope = r.varint();
  const parentSpanId = r.hex();
  const flags = r.varint();
  const kind = r.u8();
  const startTimeUnixNano = k.readBigUInt64BE(16);
  const d = r.varint();
  const endTimeUnixNano = d ? startTimeUnixNano + BigInt(d - 1) : r.u64();
  const traceState = r.str();
  const name = r.str();
  const attributes = r.attrs();
  const droppedAttributesCount = r.varint();
  const events: SpanEvent[] = [];
  for (let i = r.varint(); i > 0; i--) events.push({ timeUnixNano: r.u64(), name: r.str(), attributes: r.attrs(), droppedAttributesCount: r.varint() });
  const droppedEventsCount = r.varint();
  const links: SpanLink[] = [];
  for (let i = r.varint(); i > 0; i--) links.push({ traceId: r.hex(), spanId: r.hex(), traceState: r.str(), attributes: r.attrs(), droppedAttributesCount: r.varint(), flags: r.varint() });
  const droppedLinksCount = r.varint();
  const code = r.u8();
  const message = r.str();
  const span: Span = {
    traceId: k.toString('hex', 0, 16),
    spanId: k.toString('hex', 24, 32),
    traceState,
    parentSpanId,
    flags,
    name,
    kind,
    startTimeUnixNano,
    endTimeUnixNano,
    attributes,
    droppedAttributesCount,
    events,
    droppedEventsCount,
    links,
    droppedLinksCount,
    status: { code, message },
  };
  return { resource, scope, span };
}
