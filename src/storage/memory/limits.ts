// Bounds of the memory backend: the defaults, the container memory limit they derive from, and the byte estimate
// of what a stored span costs on the heap.
import { readFileSync } from 'node:fs';
import { type AttrValue, type KeyValue, type Resource, type Scope, type Span, type SpanEvent, isLazySpan } from '../api/index.js';

export const MEMORY_DEFAULTS = {
  maxTraces: 100_000,
  maxSpansPerTrace: 100_000,
  maxServices: 10_000,
  maxOperationsPerService: 1_000,
  maxOperations: 100_000,
  /** share of the container's memory limit the store may hold when maxBytes is unset */
  limitFraction: 0.5,
} as const;

/**
 * The container's memory limit in bytes: cgroup v2 `memory.max`, else cgroup v1 `memory.limit_in_bytes`; undefined
 * when there is none ("max", or v1's huge "unlimited" value) or neither file can be read.
 */
export function containerMemoryLimit(read: (file: string) => string = (f) => readFileSync(f, 'utf8')): number | undefined {
  for (const file of ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes']) {
    let text: string;
    try {
      text = read(file).trim();
    } catch {
      continue;
    }
    if (text === 'max') return undefined;
    if (!/^\d+$/.test(text)) continue;
    const n = Number(text);
    // cgroup v1 reports "no limit" as a page-aligned value near 2^63
    return n > 0 && n < 2 ** 60 ? n : undefined;
  }
  return undefined;
}

/** maxBytes for a store whose configuration leaves it unset: half the container's memory limit, or none. */
export function defaultMaxBytes(limit = containerMemoryLimit()): number | undefined {
  return limit === undefined ? undefined : Math.floor(limit * MEMORY_DEFAULTS.limitFraction);
}

// Heap costs in bytes, calibrated against the RSS growth measured by bench/storage.ts (V8, 64-bit, pointer
// compression off): an object header and a field, a string header, a BigInt, an array header.
const OBJ = 24;
const FIELD = 8;
const STR = 16;
const BIGINT = 24;
const ARR = 32;

const strBytes = (s: string): number => (s ? STR + s.length : 0);

function valueBytes(v: AttrValue): number {
  if (v === null || typeof v === 'boolean') return 0;
  if (typeof v === 'number') return 16;
  if (typeof v === 'string') return strBytes(v);
  if (typeof v === 'bigint') return BIGINT;
  if (v instanceof Uint8Array) return 96 + v.byteLength;
  if ('array' in v) return OBJ + ARR + v.array.reduce<number>((n, x) => n + FIELD + valueBytes(x), 0);
  return OBJ + ARR + attrsBytes(v.kvlist);
}

export function attrsBytes(attrs: readonly KeyValue[]): number {
  let n = ARR;
  for (const a of attrs) n += FIELD + OBJ + 2 * FIELD + strBytes(a.key) + valueBytes(a.value);
  return n;
}

const eventsBytes = (events: readonly SpanEvent[]): number => events.reduce((n, e) => n + FIELD + OBJ + 4 * FIELD + BIGINT + strBytes(e.name) + attrsBytes(e.attributes), ARR);

/**
 * The estimated heap bytes of one stored span, without its resource and scope (shared by the spans of a batch). A
 * lazy span costs the bytes it keeps encoded plus what it holds decoded (its reads decode afresh once it is stored:
 * the writer releases it), without decoding anything here.
 */
export function spanBytes(s: Span): number {
  let n = strBytes(s.traceId) + strBytes(s.name) + strBytes(s.traceState) + ARR + OBJ + 2 * FIELD + strBytes(s.status.message);
  if (isLazySpan(s)) {
    // its IDs and times are read from the encoded span when asked for (no string or BigInt of its own)
    const held = s.held();
    n += OBJ + 22 * FIELD + s.encodedSize + (held.attributes ? attrsBytes(held.attributes) : 0) + (held.events ? eventsBytes(held.events) : 0) + (held.added ? attrsBytes(held.added) : 0);
  } else n += OBJ + 18 * FIELD + 2 * BIGINT + strBytes(s.spanId) + strBytes(s.parentSpanId) + attrsBytes(s.attributes) + eventsBytes(s.events);
  for (const l of s.links) n += FIELD + OBJ + 6 * FIELD + strBytes(l.traceId) + strBytes(l.spanId) + strBytes(l.traceState) + attrsBytes(l.attributes);
  // its slots in the trace's span and origin lists (the origin object is shared by the spans of a scope)
  return n + 2 * FIELD;
}

export const resourceBytes = (r: Resource): number => OBJ + 2 * FIELD + attrsBytes(r.attributes);
/** a scope, plus the origin record the memory store shares among the scope's spans */
export const scopeBytes = (s: Scope): number => OBJ + 4 * FIELD + strBytes(s.name) + strBytes(s.version) + attrsBytes(s.attributes) + OBJ + 5 * FIELD;
