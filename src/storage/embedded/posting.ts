// The values of the index (see ./keys.ts). A written group lists its spans of each hour once, in its span table
// ('G' entry); a posting names spans by their places in that list, so a ref costs about a byte whatever the term.
//   span table  traces(varint) traceId(16)...  newest(u64)  then per ref, newest first: trace index(varint) start gap(varint)
//   posting     first place(varint)  then per ref: distance from the place before(varint)
// A ref is (start, trace): the spans of the trace that started then. Gaps run from the newest start, places from
// the newest ref (place 0). Values read from disk may be damaged: decoding checks every bound and fails with a typed
// error rather than returning refs that were never written.
import { StorageError } from '../api/index.js';

/** A ref inside a group: the spans of the group's `trace`-th trace that started at `start`. */
export interface PackedRef {
  start: bigint;
  trace: number;
}

/** A group's spans of one hour, as read from its span table. */
export interface SpanTable {
  /** the trace IDs, 16 bytes each */
  ids: Buffer;
  /** per place, newest first: the start and the trace (index into ids) */
  starts: BigUint64Array;
  traces: Uint32Array;
}

/** Varints carry integers up to this (exact in a double). */
const MAX_VARINT = 2 ** 53 - 1;

export const corrupt = (what: string): StorageError => new StorageError('Internal', `the embedded store holds a damaged index entry: ${what}`);

function varint(b: Buffer, pos: number, v: number): number {
  while (v >= 0x80) {
    b[pos++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  b[pos++] = v;
  return pos;
}

class Cursor {
  pos = 0;
  constructor(readonly b: Buffer) {}
  varint(): number {
    let v = 0;
    let mul = 1;
    for (;;) {
      const c = this.b[this.pos++];
      if (c === undefined) throw corrupt('truncated value');
      v += (c & 0x7f) * mul;
      if (c < 0x80) return v;
      mul *= 0x80;
      if (mul > MAX_VARINT) throw corrupt('overlong varint');
    }
  }
}

/**
 * A group's span table: `ids` (16 bytes per trace) and its refs, sorted newest first (by start, then trace ID
 * descending), no two equal. Starts lie within an hour, so their gaps fit the varints.
 */
export function encodeSpanTable(ids: Buffer, refs: readonly PackedRef[]): Buffer {
  const out = Buffer.allocUnsafe(16 + ids.length + refs.length * 16);
  let pos = varint(out, 0, ids.length / 16);
  pos += ids.copy(out, pos);
  let prev = refs.length ? refs[0]!.start : 0n;
  out.writeBigUInt64BE(prev, pos);
  pos += 8;
  for (const r of refs) {
    pos = varint(out, pos, r.trace);
    pos = varint(out, pos, Number(prev - r.start));
    prev = r.start;
  }
  return Buffer.from(out.subarray(0, pos));
}

export function decodeSpanTable(value: Buffer): SpanTable {
  const c = new Cursor(value);
  const n = c.varint();
  if (c.pos + n * 16 + 8 > value.length) throw corrupt(`a span table names ${n} traces but is ${value.length} bytes long`);
  const ids = Buffer.from(value.subarray(c.pos, c.pos + n * 16));
  c.pos += n * 16;
  let start = value.readBigUInt64BE(c.pos);
  c.pos += 8;
  const starts: bigint[] = [];
  const traces: number[] = [];
  while (c.pos < value.length) {
    const t = c.varint();
    start -= BigInt(c.varint());
    if (t >= n) throw corrupt('a span table names a trace it does not list');
    if (start < 0n) throw corrupt('a span table holds a start before 0');
    starts.push(start);
    traces.push(t);
  }
  return { ids, starts: BigUint64Array.from(starts), traces: Uint32Array.from(traces) };
}

/** A posting: the places of its refs in the group's span table, ascending (newest first), no two equal. */
export function encodePosting(places: ArrayLike<number>): Buffer {
  const out = Buffer.allocUnsafe(places.length * 8);
  let pos = 0;
  let prev = 0;
  for (let i = 0; i < places.length; i++) {
    const p = places[i]!;
    pos = varint(out, pos, p - prev);
    prev = p;
  }
  return Buffer.from(out.subarray(0, pos));
}

/** The places a posting names, ascending. */
export function decodePosting(value: Buffer): number[] {
  const c = new Cursor(value);
  const out: number[] = [];
  let place = 0;
  while (c.pos < value.length) {
    place += c.varint();
    out.push(place);
  }
  return out;
}
