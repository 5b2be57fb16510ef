// Fixture traces for the contract suite. Hand-written OTLP JSON in ./fixtures (rich traces), plus generated
// ones: a trace of 10,050 spans, traces one per day over five days, and 30 small traces for search cases.
// Every time is authored relative to BASE and shifted so the data lies in the recent past (backends with
// retention or daily indices see current data).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type KeyValue, type ResourceSpans, type Span, SpanKind, StatusCode, newSpan, serviceBatch } from '../api/model.js';
import { decodeTracesJson } from '../../otlp/otlp-json.js';

export const BASE = 1767225600000000000n; // 2026-01-01T00:00:00Z in ns
export const NS_PER_MS = 1_000_000n;
export const NS_PER_S = 1_000_000_000n;
export const NS_PER_DAY = 86_400n * NS_PER_S;

const here = dirname(fileURLToPath(import.meta.url));
/** the JSON files live next to the sources; the compiled suite runs from dist/ */
const FIXTURE_DIR = join(here, '..', '..', '..', '..', 'src', 'storage', 'testing', 'fixtures');

export const SHOP_TRACE = '5b8efff798038103d269b633813fc60c';
export const QUEUE_TRACE = 'aaaa0000000000000000000000000001';
export const BIG_TRACE = 'b16b16b16b16b16b16b16b16b16b16b1';
export const BIG_SPANS = 10_050;
export const DAILY_DAYS = 5;
export const SEARCH_TRACES = 30;
/** trace summaries: a root written after its children, errors, orphans, three services; and a trace with no root */
export const SUMMARY_TRACE = '5a11a11a000000000000000000000001';
export const ROOTLESS_TRACE = '5a11a11a000000000000000000000002';
/** when SUMMARY_TRACE's root starts (authored) */
export const SUMMARY_START = BASE + 50n * 60n * NS_PER_S;

export const dailyTraceId = (day: number): string => `0000da11${day.toString(16).padStart(24, '0')}`; // leading zeros on purpose
export const searchTraceId = (i: number): string => `5ea4c4${(i + 1).toString(16).padStart(26, '0')}`;
const spanIdOf = (prefix: string, i: number): string => `${prefix}${(i + 1).toString(16).padStart(16 - prefix.length, '0')}`;

export interface Fixtures {
  /** ns added to every authored time */
  shift: bigint;
  /** batches in the order they are written */
  batches: { name: string; traces: ResourceSpans[] }[];
  /** authored time -> stored time */
  at(authored: bigint): bigint;
}

function shiftTimes(traces: ResourceSpans[], shift: bigint): ResourceSpans[] {
  for (const rs of traces)
    for (const ss of rs.scopeSpans)
      for (const s of ss.spans) {
        s.startTimeUnixNano += shift;
        s.endTimeUnixNano += shift;
        for (const e of s.events) e.timeUnixNano += shift;
      }
  return traces;
}

const str = (key: string, v: string): KeyValue => ({ key, value: v });

function span(traceId: string, spanId: string, parent: string, name: string, kind: SpanKind, start: bigint, durNs: bigint, attributes: KeyValue[] = [], status = StatusCode.Unset): Span {
  return newSpan({ traceId, spanId, parentSpanId: parent, name, kind, startTimeUnixNano: start, endTimeUnixNano: start + durNs, attributes, status: { code: status, message: '' } });
}

const resourceSpans = (service: string, spans: Span[]): ResourceSpans => serviceBatch(service, spans, { name: 'fixture-generator', version: '1.0.0' });

/** 10,050 spans: a root and a fan-out of children, across two services. Written in batches of 1,000. */
function bigTrace(): ResourceSpans[][] {
  const start = BASE + 2n * 3600n * NS_PER_S;
  const spans: Span[] = [span(BIG_TRACE, spanIdOf('b', 0), '', 'bulk import', SpanKind.Server, start, 60n * NS_PER_S)];
  for (let i = 1; i < BIG_SPANS; i++) {
    spans.push(span(BIG_TRACE, spanIdOf('b', i), spanIdOf('b', 0), `row ${i % 10}`, SpanKind.Internal, start + BigInt(i) * NS_PER_MS, NS_PER_MS, [{ key: 'row.index', value: BigInt(i) }]));
  }
  const batches: ResourceSpans[][] = [];
  for (let i = 0; i < spans.length; i += 1000) batches.push([resourceSpans(i === 0 ? 'big-importer' : 'big-worker', spans.slice(i, i + 1000))]);
  return batches;
}

/** One trace per day for five days (BASE - 4 days ... BASE), service daily-service, operation nightly-job. */
function dailyTraces(): ResourceSpans[] {
  const spans: Span[] = [];
  for (let day = 0; day < DAILY_DAYS; day++) {
    const id = dailyTraceId(day);
    const start = BASE - BigInt(DAILY_DAYS - 1 - day) * NS_PER_DAY + 15n * 60n * NS_PER_S;
    spans.push(span(id, spanIdOf('d', day * 2), '', 'nightly-job', SpanKind.Server, start, 10n * NS_PER_S, [{ key: 'job.day', value: BigInt(day) }]));
    spans.push(span(id, spanIdOf('d', day * 2 + 1), spanIdOf('d', day * 2), 'cleanup', SpanKind.Internal, start + NS_PER_S, NS_PER_S));
  }
  return [resourceSpans('daily-service', spans)];
}

/**
 * 30 traces for search-service, one second apart from BASE + 30 min: trace i has a root `search` of (i+1) ms
 * with attributes idx=i (int), parity=even|odd, weight=i/2 (double), flagged=(i%5==0) (bool), and a child
 * `lookup` of kind client on search-backend; every third root is an error.
 */
function searchTraces(): ResourceSpans[] {
  const roots: Span[] = [];
  const children: Span[] = [];
  for (let i = 0; i < SEARCH_TRACES; i++) {
    const id = searchTraceId(i);
    const start = BASE + 30n * 60n * NS_PER_S + BigInt(i) * NS_PER_S;
    roots.push(
      span(id, spanIdOf('5', i * 2), '', 'search', SpanKind.Server, start, BigInt(i + 1) * NS_PER_MS, [
        { key: 'idx', value: BigInt(i) },
        str('parity', i % 2 ? 'odd' : 'even'),
        { key: 'weight', value: i / 2 },
        { key: 'flagged', value: i % 5 === 0 },
      ], i % 3 === 0 ? StatusCode.Error : StatusCode.Ok),
    );
    children.push(span(id, spanIdOf('5', i * 2 + 1), spanIdOf('5', i * 2), 'lookup', SpanKind.Client, start + 100_000n, 500_000n, [str('parity', i % 2 ? 'odd' : 'even')]));
  }
  return [resourceSpans('search-service', roots), resourceSpans('search-backend', children)];
}

/**
 * SUMMARY_TRACE and ROOTLESS_TRACE, as [everything but the root, the root] (the root is written last). From S =
 * SUMMARY_START: root `checkout` (sum-front, S, 100 ms) <- `reserve` (sum-back, error) <- `SELECT` (sum-back) <-
 * `query` (sum-db, error); orphans `late callback` (sum-back, S+200 ms, 5 ms, parent never written) and `prefetch`
 * (sum-db, S-5 ms). ROOTLESS_TRACE: orphans `poll` (sum-back, S+1 s) and `tick` (sum-db, 1 ms earlier).
 */
function summaryTraces(): [ResourceSpans[], ResourceSpans[]] {
  const S = SUMMARY_START;
  const ms = NS_PER_MS;
  const T = SUMMARY_TRACE;
  const R = ROOTLESS_TRACE;
  const back = [
    span(T, 'a000000000000002', 'a000000000000001', 'reserve', SpanKind.Server, S + 10n * ms, 50n * ms, [], StatusCode.Error),
    span(T, 'a000000000000003', 'a000000000000002', 'SELECT', SpanKind.Client, S + 20n * ms, 10n * ms, [], StatusCode.Ok),
    span(T, 'a000000000000005', 'deadbeefdeadbeef', 'late callback', SpanKind.Internal, S + 200n * ms, 5n * ms),
    span(R, 'b000000000000001', 'feedfacefeedface', 'poll', SpanKind.Internal, S + 1000n * ms, ms),
  ];
  const db = [
    span(T, 'a000000000000004', 'a000000000000003', 'query', SpanKind.Server, S + 21n * ms, 8n * ms, [], StatusCode.Error),
    span(T, 'a000000000000006', 'cafecafecafecafe', 'prefetch', SpanKind.Client, S - 5n * ms, ms),
    span(R, 'b000000000000002', 'feedfacefeedface', 'tick', SpanKind.Internal, S + 999n * ms, ms),
  ];
  const root = span(T, 'a000000000000001', '', 'checkout', SpanKind.Server, S, 100n * ms);
  // not in the order of their names: the summaries' services must be sorted, not come as written
  return [[resourceSpans('sum-db', db), resourceSpans('sum-back', back)], [resourceSpans('sum-front', [root])]];
}

function loadJson(file: string): ResourceSpans[] {
  return decodeTracesJson(JSON.parse(readFileSync(join(FIXTURE_DIR, file), 'utf8')));
}

/**
 * A wide trace: `count` spans, all children of the first (a server span), one µs apart from `start`, named
 * "step 0" to "step 6" in turn, each with the attributes `attributes(i)` gives.
 */
export function stepSpans(traceId: string, count: number, start: bigint, attributes: (i: number) => KeyValue[]): Span[] {
  return Array.from({ length: count }, (_, i) =>
    newSpan({
      traceId,
      spanId: (i + 1).toString(16).padStart(16, '0'),
      parentSpanId: i ? '0000000000000001' : '',
      name: `step ${i % 7}`,
      kind: i ? SpanKind.Internal : SpanKind.Server,
      startTimeUnixNano: start + BigInt(i) * 1000n,
      endTimeUnixNano: start + BigInt(i) * 1000n + 500n,
      attributes: attributes(i),
    }),
  );
}

/** Fresh fixtures (new objects each call: stores take ownership), shifted to end two hours before now. */
export function loadFixtures(now = BigInt(Date.now()) * NS_PER_MS): Fixtures {
  const anchor = now - 3n * 3600n * NS_PER_S;
  const shift = anchor - BASE;
  const [summaryChildren, summaryRoot] = summaryTraces();
  const batches: { name: string; traces: ResourceSpans[] }[] = [
    { name: 'summary-children', traces: summaryChildren },
    { name: 'shop', traces: loadJson('shop.json') },
    { name: 'queue', traces: loadJson('queue.json') },
    { name: 'daily', traces: dailyTraces() },
    { name: 'search', traces: searchTraces() },
    ...bigTrace().map((t, i) => ({ name: `big-${i}`, traces: t })),
    { name: 'queue-consumer', traces: loadJson('queue-consumer.json') },
    { name: 'summary-root', traces: summaryRoot },
  ];
  for (const b of batches) shiftTimes(b.traces, shift);
  return { shift, batches, at: (t) => t + shift };
}
