// The value of a posting (see ./keys.ts): the refs of a batch's spans under one index term and hour, newest first,
// packed. Spans of one trace tend to share a posting, and their starts lie close together, so each trace ID is
// written once and each start as its distance from the ref before:
//   traces(varint) traceId(16)...   then per ref: trace index(varint) start gap(varint)
// The first gap is from the posting's newest start, which its key holds.
import type { SpanRef } from './keys.js';

const REF = 24;

function varint(b: Buffer, pos: number, v: number): number {
  while (v >= 0x80) {
    b[pos++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  b[pos++] = v;
  return pos;
}

/** Packs refs (each start(8) traceId(16), sorted newest first; one of equal ones). */
export function encodePosting(all: readonly Buffer[]): Buffer {
  const refs = all.filter((r, i) => i === 0 || !r.equals(all[i - 1]!));
  const traces = new Map<string, number>();
  const ids: Buffer[] = [];
  const which: number[] = [];
  for (const r of refs) {
    const t = r.toString('latin1', 8, 24);
    let i = traces.get(t);
    if (i === undefined) {
      traces.set(t, (i = ids.length));
      ids.push(r);
    }
    which.push(i);
  }
  // at most: the trace count, the IDs, and per ref two varints of up to 8 bytes
  const out = Buffer.allocUnsafe(8 + ids.length * 16 + refs.length * 16);
  let pos = varint(out, 0, ids.length);
  for (const r of ids) pos += r.copy(out, pos, 8, 24);
  let prev = refs.length ? refs[0]!.readBigUInt64BE(0) : 0n;
  for (let k = 0; k < refs.length; k++) {
    const r = refs[k]!;
    const start = r.readBigUInt64BE(0);
    pos = varint(out, pos, which[k]!);
    pos = varint(out, pos, Number(prev - start));
    prev = start;
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
      if (c === undefined) throw new Error('truncated posting');
      v += (c & 0x7f) * mul;
      if (c < 0x80) return v;
      mul *= 0x80;
    }
  }
}

/** The refs of a posting whose newest start is `newest`, newest first. */
export function* decodePosting(newest: bigint, value: Buffer): Generator<SpanRef> {
  const c = new Cursor(value);
  const n = c.varint();
  const traces: string[] = [];
  for (let i = 0; i < n; i++, c.pos += 16) traces.push(value.toString('hex', c.pos, c.pos + 16));
  let start = newest;
  while (c.pos < value.length) {
    const t = traces[c.varint()];
    start -= BigInt(c.varint());
    if (t === undefined) throw new Error('corrupt posting');
    yield { start, traceId: t };
  }
}

/** A ref as the 32 bytes postings are built from. */
export function refBytes(r: SpanRef): Buffer {
  const b = Buffer.allocUnsafe(REF);
  b.writeBigUInt64BE(r.start, 0);
  b.write(r.traceId, 8, 16, 'hex');
  return b;
}
