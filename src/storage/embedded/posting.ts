// The value of a posting (see ./keys.ts): the refs of a written group's spans under one index term and hour, newest
// first, packed. A group's trace IDs are stored once per hour, in its trace table ('G' entry); a posting names a
// trace by its place in that table, and each start as its distance from the ref before:
//   group(varint)   then per ref: trace index(varint) start gap(varint)
// The first gap is from the posting's newest start, which its key holds. A trace table is the trace IDs, 16 bytes
// each. Values read from disk may be damaged: decoding checks every bound and fails with a typed error.
import { StorageError } from '../api/index.js';
import type { SpanRef } from './keys.js';

/** A ref inside a group: the spans of the group's `trace`-th trace (in its trace table) that started at `start`. */
export interface PackedRef {
  start: bigint;
  trace: number;
}

/** Varints carry integers up to this (exact in a double). */
const MAX_VARINT = 2 ** 53 - 1;

const corrupt = (what: string): StorageError => new StorageError('Internal', `the embedded store holds a damaged index entry: ${what}`);

function varint(b: Buffer, pos: number, v: number): number {
  while (v >= 0x80) {
    b[pos++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  b[pos++] = v;
  return pos;
}

/**
 * Packs the refs of group `group` under one term: sorted newest first (by start, then trace ID descending), no
 * two equal. Starts must fit the gap varints, which they do as nanosecond times under 2^53 apart.
 */
export function encodePosting(group: number, refs: readonly PackedRef[]): Buffer {
  // the group, and per ref two varints of up to 8 bytes
  const out = Buffer.allocUnsafe(8 + refs.length * 16);
  let pos = varint(out, 0, group);
  let prev = refs.length ? refs[0]!.start : 0n;
  for (const r of refs) {
    pos = varint(out, pos, r.trace);
    pos = varint(out, pos, Number(prev - r.start));
    prev = r.start;
  }
  return Buffer.from(out.subarray(0, pos));
}

class Cursor {
  pos = 0;
  constructor(readonly b: Buffer) {}
  varint(): number {
    let v = 0;
    let mul = 1;
    for (;;) {
      const c = this.b[this.pos++];
      if (c === undefined) throw corrupt('truncated posting');
      v += (c & 0x7f) * mul;
      if (c < 0x80) return v;
      mul *= 0x80;
      if (mul > MAX_VARINT) throw corrupt('overlong varint in a posting');
    }
  }
}

/** The group a posting belongs to (its trace table's number). */
export function postingGroup(value: Buffer): number {
  return new Cursor(value).varint();
}

/** The refs of a posting whose newest start is `newest`, as group-relative refs, newest first. */
export function decodePackedRefs(newest: bigint, value: Buffer): { group: number; refs: PackedRef[] } {
  const c = new Cursor(value);
  const group = c.varint();
  const refs: PackedRef[] = [];
  let start = newest;
  while (c.pos < value.length) {
    const trace = c.varint();
    start -= BigInt(c.varint());
    if (start < 0n) throw corrupt('a ref starts before 0');
    refs.push({ start, trace });
  }
  return { group, refs };
}

/** The refs of a posting whose newest start is `newest`, newest first, with trace IDs from its group's `table`. */
export function* decodePosting(newest: bigint, value: Buffer, table: Buffer): Generator<SpanRef> {
  const c = new Cursor(value);
  c.varint(); // the group, whose table the caller looked up
  let start = newest;
  while (c.pos < value.length) {
    const at = c.varint() * 16;
    start -= BigInt(c.varint());
    if (at + 16 > table.length) throw corrupt('a posting names a trace its group does not have');
    if (start < 0n) throw corrupt('a ref starts before 0');
    yield { start, traceId: table.toString('hex', at, at + 16) };
  }
}

/** Checks a trace table read from disk: whole 16-byte trace IDs. */
export function checkTraceTable(table: Buffer): Buffer {
  if (table.length % 16) throw corrupt(`a trace table of ${table.length} bytes, not a multiple of 16`);
  return table;
}
