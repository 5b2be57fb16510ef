// What both OTLP receivers do with a request body: decode (protobuf or JSON) into the storage model, hand it to
// the trace consumer (the ingest pipeline) and wait until it is durable. Transport-specific code only maps the outcome to HTTP or gRPC.
import { InvalidArgumentError, type ResourceSpans, type StorageContext } from '../../storage/api/index.js';
import { decodeTracesJsonLenient } from '../../otlp/otlp-json.js';
import type { Logger } from 'pino';
import type { Counter } from 'prom-client';
import type { TraceConsumer } from '../consumer.js';
import type { Tenancy } from '../tenancy.js';
import type { ByteBudget } from './budget.js';
import { DecodeUnavailableError, type DecodePool } from './decode-pool.js';

export type IngestOutcome = (
  /** every span written, or rejected and named in the message (partial_success) */
  | { kind: 'accepted'; spans: number; rejected: number; message: string }
  /** the request cannot be decoded: 400 / INVALID_ARGUMENT */
  | { kind: 'invalid'; message: string }
  /** refused before anything was taken (queue full, backend out of space): 429 / RESOURCE_EXHAUSTED */
  | { kind: 'overloaded'; message: string }
  /** taken, but not durable within the wait: 503 / UNAVAILABLE, the client retries (writes are idempotent) */
  | { kind: 'unavailable'; message: string }
) & {
  /**
   * Settles once the decoded spans have left the runtime (written, rejected or never taken). A receiver keeps the
   * request's bytes counted in its budget until then: spans still queued after a 503 hold memory too.
   */
  settled?: Promise<unknown>;
};

export interface IngestOptions {
  /** how long a request waits for its spans to be committed before it is answered "unavailable" */
  ackTimeoutMs: number;
}

/** What every OTLP receiver needs: where the spans go, its request counter, the shared byte budget and the tenancy rule. */
export interface ReceiverDeps {
  consumer: TraceConsumer;
  received: Counter<string>;
  budget: ByteBudget;
  /** where the tenant comes from (the tenancy header, or gRPC metadata of the same name) */
  tenancy: Tenancy;
  options: IngestOptions;
  log: Logger;
  /** where OTLP/protobuf requests are decoded (its threads, or the main thread) */
  decoder: DecodePool;
}

interface Decoded {
  traces: ResourceSpans[];
  rejected: number;
  problems: string[];
}

/** the request decoded, or why it cannot be (a message for 400 / INVALID_ARGUMENT) */
async function decode(body: Buffer, format: 'protobuf' | 'json', decoder: DecodePool): Promise<Decoded | string> {
  try {
    if (format === 'protobuf') return await decoder.decode(body);
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch (e) {
      return `request body is not valid JSON: ${e instanceof Error ? e.message : String(e)}`;
    }
    return decodeTracesJsonLenient(parsed);
  } catch (e) {
    if (e instanceof InvalidArgumentError) return e.message;
    throw e;
  }
}

/** Decodes and submits one request, written as the tenant of `ctx`, and waits for the commit. */
export async function ingest(d: ReceiverDeps, body: Buffer, format: 'protobuf' | 'json', ctx: StorageContext): Promise<IngestOutcome> {
  const { consumer, options: o } = d;
  let decoded: Decoded | string;
  try {
    decoded = await decode(body, format, d.decoder);
  } catch (e) {
    if (e instanceof DecodeUnavailableError) return { kind: 'unavailable', message: e.message };
    throw e;
  }
  if (typeof decoded === 'string') return { kind: 'invalid', message: decoded };
  const sub = consumer.consume(decoded.traces, ctx);
  if (!sub.ok) return { kind: 'overloaded', message: sub.message };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), o.ackTimeoutMs)));
  const out = await Promise.race([sub.done, timeout]);
  clearTimeout(timer);
  if (!out) return { kind: 'unavailable', message: `the spans were not committed by the backend within ${o.ackTimeoutMs} ms (backend slow or unavailable): retry`, settled: sub.done };
  const rejected = decoded.rejected + out.rejected;
  const problems = [...decoded.problems, ...out.problems].slice(0, 5);
  return { kind: 'accepted', spans: out.written, rejected, message: rejected ? `${rejected} span(s) rejected: ${problems.join('; ')}` : '' };
}
