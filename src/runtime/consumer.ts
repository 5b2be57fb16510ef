// What receivers hand their decoded spans to. A receiver knows only this interface: the ingest pipeline implements
// it today, and anything put between a receiver and the backend (a Kafka producer, a test double) can too.
import type { ResourceSpans, StorageContext } from '../storage/api/index.js';

/** What became of one request's spans. */
export interface WriteOutcome {
  written: number;
  rejected: number;
  /** the first few reasons for rejected spans */
  problems: string[];
}

/** A consumer's answer: refused at once (nothing taken), or taken, with the promise of the outcome. */
export type Submission =
  | { ok: true; done: Promise<WriteOutcome> }
  | { ok: false; reason: 'queue_full' | 'backend_full' | 'closed'; message: string };

export interface TraceConsumer {
  /**
   * Takes one request's decoded spans, written as the tenant of `ctx`. `done` settles when every span was
   * committed or rejected: receivers answer their client only then (ack after commit).
   */
  consume(traces: ResourceSpans[], ctx: StorageContext): Submission;
}

/**
 * A step every request goes through before it is queued (sampling rules; partial spans and streaming jobs later).
 * Runs on the receiving path, so it must stay cheap: no I/O, no awaiting.
 */
export interface IngestStage {
  readonly name: string;
  /** The spans to keep of `traces` and how many they are (`spans`: how many `traces` holds). */
  process(traces: ResourceSpans[], spans: number, ctx: StorageContext): { traces: ResourceSpans[]; kept: number };
}
