// The span the OTLP/protobuf receivers hand to the stores: one object over the request's bytes, which were checked
// whole when the request arrived; attributes, events, span IDs and times are read from those bytes when asked for.
import { type KeyValue, type LazySpan, type Span, type SpanEvent, SpanKind, type SpanLink, StatusCode } from '../storage/api/model.js';
import { spanAttributes, spanEvents } from './otlp-values.js';

/**
 * Whether a fixed64 end time at `endAt`, when not zero, is before the start time at `startAt` (-1: absent, zero),
 * compared as two 32-bit halves: no BigInt per span.
 */
export function endsBeforeStartAt(b: Buffer, startAt: number, endAt: number): boolean {
  if (endAt < 0) return false;
  const endHi = b.readUInt32LE(endAt + 4);
  const endLo = b.readUInt32LE(endAt);
  if (endHi === 0 && endLo === 0) return false;
  const startHi = startAt < 0 ? 0 : b.readUInt32LE(startAt + 4);
  const startLo = startAt < 0 ? 0 : b.readUInt32LE(startAt);
  return endHi < startHi || (endHi === startHi && endLo < startLo);
}

// WireSpan state bits: its bytes hold attributes / events; reads no longer keep what they decode
export const ATTRS_ENCODED = 1;
export const EVENTS_ENCODED = 2;
const RELEASED = 4;

/** Shared by spans without links or status until one is set: a stored span costs fewer objects. */
export const NO_LINKS: SpanLink[] = Object.freeze([]) as unknown as SpanLink[];
export const UNSET: Span['status'] = Object.freeze({ code: StatusCode.Unset, message: '' }) as Span['status'];

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
export class WireSpan implements LazySpan {
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
  #bits: number;
  /** the trace ID its bytes were checked with */
  #traceId: string;
  #spanIdAt: number;
  #parentAt: number;
  #startAt: number;
  #endAt: number;
  #set: Assigned | undefined;

  /**
   * A span whose message is buf[start, end), read whole and checked, with its trace ID; the fixed-size fields are
   * at the given offsets (-1: absent), `bits` says whether attributes and events are in the bytes.
   */
  constructor(buf: Buffer, start: number, end: number, traceId: string, spanIdAt: number, parentAt: number, startAt: number, endAt: number, bits: number) {
    this.#buf = buf;
    this.#start = start;
    this.#end = end;
    this.traceId = traceId;
    this.#traceId = traceId;
    this.#spanIdAt = spanIdAt;
    this.#parentAt = parentAt;
    this.#startAt = startAt;
    this.#endAt = endAt;
    this.#bits = bits;
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
}
