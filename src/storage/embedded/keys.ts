// Binary key layout of the embedded store (format FORMAT_VERSION, recorded in meta under 'V'). Strings are
// length-prefixed (uint16 BE), numbers fixed-width big-endian, so byte order is the order we scan in:
//   spans    T(16) start(8) spanId(8) hash(8)                  -> span record (see ./record.ts; the hash of the record
//            makes a span written twice one record)
//   index    written in groups: the batches of one commit (see ./group.ts), each group numbered by the write
//            sequence. Per hour of span start (bucket) a group adds its span table and one posting per index term:
//            'G' bucket(4) group(6)                      -> span table: the group's refs of that hour, newest first
//            'S' bucket(4) svc                 tail(12)  -> places   service
//            'O' bucket(4) svc op              tail(12)  -> places   service + operation
//            'A' bucket(4) svc key value       tail(12)  -> places   service + attribute (as string)
//            'T' bucket(4)                     tail(12)  -> places   every span by time
//            A ref is (start, T): the spans of trace T that started then. A span table lists the group's trace IDs
//            once and its refs, a posting the places of its refs in that table (./posting.ts), so a ref costs about
//            a byte per term. tail = newest(6) group(6): the newest start of the posting's refs as its offset in the
//            hour, which orders a term's postings, then the group, whose span table it reads. svc and key are
//            nameKey: the name's number in the string dictionary ('k' below), or the name itself when it has none.
//   meta     'V' -> format version;  'k' id(4) -> attribute key or service name (the string dictionary of records
//            and index keys);  'v' svc -> '' services;  'p' svc kind name -> '' operations;  'r'/'c' hash(8) ->
//            number(4) and 'R'/'C' number(4) -> JSON: resources/scopes, which records name by number (./numbering.ts);
//            'g' at(8) seq(8) -> dependency links;  'h' at(8) seq(8) -> throughput;  'b' at(8) -> probabilities;
//            'l' resource -> lock;  'q' -> write sequence (the highest used)
// Names in keys go through kstr: one longer than MAX_KEY_STRING_BYTES is keyed by its hash, and the 'v' and 'p'
// entries of such a name carry the whole name as their value.
import { createHash } from 'node:crypto';

export const u64 = (v: bigint): Buffer => {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64BE(v < 0n ? 0n : v > 0xffffffffffffffffn ? 0xffffffffffffffffn : v);
  return b;
};

export const u32 = (v: number): Buffer => {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(v);
  return b;
};

export const hex = (h: string): Buffer => Buffer.from(h, 'hex');

/** The version of the on-disk layout above; a store of another version is refused on open. */
export const FORMAT_VERSION = 3;

/** Width of a posting's time bucket: an hour, so a query window touches few buckets and retention drops whole ones. */
export const BUCKET_NS = 3_600_000_000_000n;
export const bucketOf = (start: bigint): number => (start <= 0n ? 0 : Number(start / BUCKET_NS));

/** Bytes of one ref as a batch's postings are built from: start(8) traceId(16). */
export const REF_BYTES = 24;
/** Bytes after the term in a posting key: newest(6) group(6), see postingTail. */
export const POSTING_TAIL = 12;

const u48 = (v: bigint): Buffer => {
  const b = Buffer.allocUnsafe(6);
  b.writeUIntBE(Number(v), 0, 6);
  return b;
};

/** Bytes of a group's number in keys (6: a commit a microsecond would take nine years to run out). */
export const GROUP_BYTES = 6;

/** A group's number in keys. */
export const groupBytes = (group: bigint): Buffer => u48(group);

/** The start of bucket `b`, in ns. */
export const bucketStart = (b: number): bigint => BigInt(b) * BUCKET_NS;

/**
 * The tail of a posting key: the newest start of its refs, as its distance from its bucket's start (under an hour,
 * so 6 bytes), then its group. Starts outside the bucket are clamped to it.
 */
export function postingTail(bucket: number, newest: bigint, group: bigint): Buffer {
  const off = newest - bucketStart(bucket);
  return Buffer.concat([u48(off < 0n ? 0n : off >= BUCKET_NS ? BUCKET_NS - 1n : off), u48(group)]);
}

/** The newest start and the group of a posting key whose tail starts at `at`. */
export function readPostingTail(k: Buffer, at: number, bucket: number): { newest: bigint; group: bigint } {
  return { newest: bucketStart(bucket) + BigInt(k.readUIntBE(at, 6)), group: BigInt(k.readUIntBE(at + 6, 6)) };
}

/** The lower bound, for a reverse scan, of the postings of bucket `bucket` under prefix `p` whose newest start is `min` or later. */
export function postingsFrom(p: Buffer, bucket: number, min: bigint): Buffer {
  const off = min - bucketStart(bucket);
  return off <= 0n ? p : Buffer.concat([p, u48(off)]);
}

export function lstr(s: string): Buffer {
  const body = Buffer.from(s, 'utf8');
  if (body.length > 0xffff) throw new Error('key component longer than 65535 bytes');
  const b = Buffer.allocUnsafe(2 + body.length);
  b.writeUInt16BE(body.length);
  body.copy(b, 2);
  return b;
}

/** LMDB's largest key, in bytes */
export const MAX_KEY_BYTES = 1978;

/** Strings longer than this (in UTF-8 bytes) stand in keys as a marker and their SHA-256; the record keeps them whole. */
export const MAX_KEY_STRING_BYTES = 256;
const LONG_MARK = '\u0000sha256:';

/** Whether a key string stands for a longer one (see kstr). */
export const isHashedKeyString = (s: string): boolean => s.startsWith(LONG_MARK);

/**
 * A length-prefixed string for a key, bounded: a longer string is replaced by a marker and its hash, so a
 * service, operation or attribute name of any length yields a key LMDB takes, and equal strings equal keys.
 */
export function kstr(s: string): Buffer {
  return Buffer.byteLength(s) <= MAX_KEY_STRING_BYTES ? lstr(s) : lstr(LONG_MARK + createHash('sha256').update(s).digest('hex'));
}

/**
 * A service or attribute key name in an index key: 1 and its number in the store's string dictionary (a varint),
 * or, for a name the dictionary does not hold (too long, or the dictionary full), 0 and the name (kstr).
 */
export function nameKey(s: string, id: number | undefined): Buffer {
  if (id === undefined) return Buffer.concat([NAME_STRING, kstr(s)]);
  const b = Buffer.allocUnsafe(6);
  b[0] = 1;
  let pos = 1;
  for (let v = id; ; ) {
    if (v < 0x80) {
      b[pos++] = v;
      break;
    }
    b[pos++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  return b.subarray(0, pos);
}
const NAME_STRING = Buffer.from([0]);

export const tag = (c: string): Buffer => Buffer.from(c, 'latin1');

export const key = (...parts: Buffer[]): Buffer => Buffer.concat(parts);

/** The smallest key greater than every key starting with `prefix`. */
export function prefixEnd(prefix: Buffer): Buffer {
  const b = Buffer.from(prefix);
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i]! < 0xff) {
      b[i]!++;
      return b.subarray(0, i + 1);
    }
  }
  return Buffer.concat([b, Buffer.from([0xff])]);
}

/**
 * Where an index term points: the spans of a trace that started at one time (usually one span). Searches check the
 * spans themselves, so a ref standing for two spans costs a read, never a wrong answer.
 */
export interface SpanRef {
  start: bigint;
  traceId: string;
}

/** Compares two refs by (start, traceId). */
export function compareRefs(a: SpanRef, b: SpanRef): number {
  if (a.start !== b.start) return a.start < b.start ? -1 : 1;
  return a.traceId < b.traceId ? -1 : a.traceId > b.traceId ? 1 : 0;
}
