// Protobuf wire format: a reader over one buffer (messages are decoded by functions taking their end offset)
// and a writer. Shared by the OTLP codec and the Jaeger remote-storage and query codecs.
import { InvalidArgumentError } from '../storage/api/errors.js';

export const VARINT = 0;
export const I64 = 1;
export const LEN = 2;
export const I32 = 5;

/** Where the decoder is, for error messages (formatted only when something fails). */
export interface Where {
  ri: number;
  si: number;
  ki: number;
  /** a fixed path for messages other than trace batches */
  path?: string;
}

/** One reader over the whole request; messages are decoded by functions that take their end offset. */
/** strings up to this many bytes go through the cache below */
const SHORT = 32;
const CACHE_SIZE = 4096;
const cache: string[] = new Array<string>(CACHE_SIZE).fill('');

/**
 * Short ASCII strings (attribute keys, enum-like values, service and operation names) repeat in every span: a
 * direct-mapped cache returns the same string object instead of allocating a new one each time, which saves
 * decode time and, above all, garbage collection. Non-ASCII bytes take the normal UTF-8 path.
 */
function shortString(buf: Buffer, s: number, e: number): string {
  let h = e - s;
  for (let i = s; i < e; i++) {
    const b = buf[i]!;
    if (b >= 0x80) return buf.toString('utf8', s, e);
    h = Math.imul(h ^ b, 0x01000193);
  }
  const slot = (h ^ (h >>> 15)) & (CACHE_SIZE - 1);
  const c = cache[slot]!;
  if (c.length === e - s) {
    let same = true;
    for (let i = 0; i < c.length; i++) {
      if (c.charCodeAt(i) !== buf[s + i]) {
        same = false;
        break;
      }
    }
    if (same) return c;
  }
  const str = buf.toString('latin1', s, e);
  cache[slot] = str;
  return str;
}

/** the UTF-8 string in buf[s, e), short ASCII ones from the cache */
export function text(buf: Buffer, s: number, e: number): string {
  if (e <= s) return '';
  return e - s <= SHORT ? shortString(buf, s, e) : buf.toString('utf8', s, e);
}

export class Reader {
  pos = 0;
  constructor(
    readonly buf: Buffer,
    readonly where: Where,
  ) {}

  fail(what: string): never {
    const w = this.where;
    const path = w.path ?? ( w.ri < 0 ? 'request' : w.si < 0 ? `resourceSpans[${w.ri}]` : w.ki < 0 ? `resourceSpans[${w.ri}].scopeSpans[${w.si}]` : `resourceSpans[${w.ri}].scopeSpans[${w.si}].spans[${w.ki}]`);
    throw new InvalidArgumentError(path, `malformed protobuf: ${what} at byte ${this.pos}`);
  }

  /** an unsigned varint as a number (exact up to 2^53: tags, lengths, enums, counts) */
  varint(): number {
    const buf = this.buf;
    let b = buf[this.pos++]!;
    if (b < 0x80 && this.pos <= buf.length) return b;
    let result = b & 0x7f;
    let mul = 128;
    for (let i = 1; i < 10; i++) {
      if (this.pos >= buf.length) this.fail('truncated varint');
      b = buf[this.pos++]!;
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 128;
    }
    return this.fail('varint too long');
  }

  /**
   * A uint32 field (dropped counts): the low 32 bits of the varint, as every protobuf parser reads a wider value into
   * a uint32. Without this a count past 2^32 would be stored and later fail every strict reader of the span.
   */
  uint32(): number {
    const start = this.pos;
    const n = this.varint();
    if (n <= 0xffffffff) return n;
    // the low 32 bits are in the first five bytes (35 bits): exact as a double
    let low = 0;
    let mul = 1;
    for (let i = start; i < start + 5; i++, mul *= 128) low += (this.buf[i]! & 0x7f) * mul;
    return low % 0x100000000;
  }

  /** a varint as a signed 64-bit integer */
  int64(): bigint {
    const start = this.pos;
    const n = this.varint();
    if (n <= Number.MAX_SAFE_INTEGER && this.pos - start < 8) return BigInt(n);
    // wide value (large or negative): redo exactly
    this.pos = start;
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return BigInt.asIntN(64, result);
      shift += 7n;
    }
  }

  /** where a fixed64 starts (pos moves past it) */
  fixed64At(): number {
    if (this.pos + 8 > this.buf.length) this.fail('truncated fixed64');
    this.pos += 8;
    return this.pos - 8;
  }

  fixed64(): bigint {
    return this.buf.readBigUInt64LE(this.fixed64At());
  }

  double(): number {
    if (this.pos + 8 > this.buf.length) this.fail('truncated double');
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }

  fixed32(): number {
    if (this.pos + 4 > this.buf.length) this.fail('truncated fixed32');
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  /** end offset of a length-delimited field that starts at pos; pos moves to its content */
  len(limit: number): number {
    const n = this.varint();
    const e = this.pos + n;
    if (e > limit) this.fail('length beyond the end of the message');
    return e;
  }

  string(limit: number): string {
    const e = this.len(limit);
    const s = this.pos;
    this.pos = e;
    return text(this.buf, s, e);
  }

  /** hex of an ID of `size` bytes, or '' when its length is wrong or it is all zero */
  id(limit: number, size: number): string {
    const s = this.idAt(limit, size);
    return s < 0 ? '' : this.buf.toString('hex', s, s + size);
  }

  /** where an ID of `size` bytes starts, or -1 when its length is wrong or it is all zero (pos moves past it) */
  idAt(limit: number, size: number): number {
    const e = this.len(limit);
    const s = this.pos;
    this.pos = e;
    if (e - s !== size) return -1;
    for (let i = s; i < e; i++) if (this.buf[i] !== 0) return s;
    return -1;
  }

  /** leaves a sub-message: its fields must not have run past its end */
  done(end: number): void {
    if (this.pos > end) this.fail('a field runs past the end of its message');
    this.pos = end;
  }

  skip(tag: number, limit: number): void {
    switch (tag & 7) {
      case VARINT:
        this.varint();
        break;
      case I64:
        if ((this.pos += 8) > limit) this.fail('truncated fixed64');
        break;
      case LEN:
        this.pos = this.len(limit);
        break;
      case I32:
        if ((this.pos += 4) > limit) this.fail('truncated fixed32');
        break;
      default:
        this.fail(`unsupported wire type ${tag & 7}`);
    }
    if (tag >>> 3 === 0) this.fail('field number 0');
  }
}


export class Writer {
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

