// What both OTLP receivers do with a request body: decode (protobuf or JSON) into the storage model and hand
// it to the pipeline. Transport-specific code only maps the outcome to HTTP or gRPC.
import { InvalidArgumentError, type ResourceSpans, spanCount } from '../../storage/api/index.js';
import { decodeTracesJsonLenient } from '../../storage/api/otlp-json.js';
import { decodeTracesProto } from '../../storage/api/otlp-proto.js';
import type { IngestPipeline } from '../pipeline.js';

export type IngestOutcome =
  | { kind: 'accepted'; spans: number; rejected: number; message: string }
  | { kind: 'invalid'; message: string }
  | { kind: 'overloaded'; message: string };

export function ingest(pipeline: IngestPipeline, body: Buffer, format: 'protobuf' | 'json'): IngestOutcome {
  let traces: ResourceSpans[];
  let rejected = 0;
  let problems: string[] = [];
  try {
    if (format === 'protobuf') {
      const d = decodeTracesProto(body);
      traces = d.traces;
      rejected = d.rejected;
      problems = d.problems;
    } else {
      let parsed: unknown;
      try {
        parsed = JSON.parse(body.toString('utf8'));
      } catch (e) {
        return { kind: 'invalid', message: `request body is not valid JSON: ${e instanceof Error ? e.message : String(e)}` };
      }
      const d = decodeTracesJsonLenient(parsed);
      traces = d.traces;
      rejected = d.rejected;
      problems = d.problems;
    }
  } catch (e) {
    if (e instanceof InvalidArgumentError) return { kind: 'invalid', message: e.message };
    throw e;
  }
  let spans = spanCount(traces);
  if (pipeline.stage) {
    const kept = pipeline.stage(traces);
    traces = kept.traces;
    spans = kept.kept;
  }
  if (!pipeline.offer(traces, spans)) {
    return { kind: 'overloaded', message: `the runtime's ingest queue is full (${pipeline.queuedSpans} spans waiting for the backend): retry later` };
  }
  const message = rejected ? `${rejected} span(s) rejected: ${problems.join('; ')}` : '';
  return { kind: 'accepted', spans, rejected, message };
}
