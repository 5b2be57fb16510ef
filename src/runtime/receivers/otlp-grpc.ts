// OTLP/gRPC receiver: opentelemetry.proto.collector.trace.v1.TraceService/Export. The message bytes are decoded
// by our own codec (no generated classes): INVALID_ARGUMENT for undecodable requests, RESOURCE_EXHAUSTED when the
// queue is full or too many bytes are in flight (OTLP clients retry it), UNAVAILABLE when the spans were not
// committed in time, partial_success for rejected spans. The answer is sent once the spans are durable.
import * as grpc from '@grpc/grpc-js';
import type { StorageContext } from '../../storage/api/index.js';
import { encodeExportResponse, encodeRpcStatus } from '../../otlp/otlp-proto.js';
import { method } from '../grpc-util.js';
import { TenantError } from '../tenancy.js';
import { type IngestOutcome, type ReceiverDeps, ingest } from './ingest.js';

export const EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';
export const TRACE_SERVICE: grpc.ServiceDefinition = { Export: method(EXPORT_PATH) };


/** How long a refused client should wait before it retries, in its RetryInfo (OTLP/HTTP says Retry-After: 1). */
export const RETRY_AFTER_MS = 1000;

/**
 * RESOURCE_EXHAUSTED with a google.rpc.RetryInfo in its status details: OTLP exporters (the Go SDK, the collector)
 * treat RESOURCE_EXHAUSTED without one as final and drop the data, with one as "retry after the delay".
 */
export function exhausted(details: string): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  metadata.set('grpc-status-details-bin', encodeRpcStatus(grpc.status.RESOURCE_EXHAUSTED, details, RETRY_AFTER_MS));
  return { code: grpc.status.RESOURCE_EXHAUSTED, details, metadata };
}

/** What an export is answered: its ExportTraceServiceResponse (partial_success for rejected spans), or a status. */
export function exportAnswer(out: IngestOutcome): { reply: Buffer } | { status: Partial<grpc.StatusObject> } {
  switch (out.kind) {
    case 'accepted':
      return { reply: encodeExportResponse(out.rejected, out.message) };
    case 'invalid':
      return { status: { code: grpc.status.INVALID_ARGUMENT, details: out.message } };
    case 'overloaded':
      return { status: exhausted(out.message) };
    case 'unavailable':
      return { status: { code: grpc.status.UNAVAILABLE, details: out.message } };
  }
}

/** Adds the OTLP trace service to a gRPC server. */
export function addOtlpTraceService(server: grpc.Server, d: ReceiverDeps): void {
  const count = (outcome: string) => d.received.inc({ transport: 'grpc', outcome });
  server.addService(TRACE_SERVICE, {
    Export: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      let ctx: StorageContext;
      try {
        ctx = d.tenancy.grpc(call.metadata);
      } catch (e) {
        count('unauthenticated');
        return cb({ code: e instanceof TenantError ? grpc.status.UNAUTHENTICATED : grpc.status.INTERNAL, details: e instanceof Error ? e.message : String(e) });
      }
      const size = call.request.length;
      if (!d.budget.tryTake(size)) {
        count('overloaded');
        return cb(exhausted(d.budget.refusal()));
      }
      let settled: Promise<unknown> | undefined;
      ingest(d, call.request, 'protobuf', ctx)
        .then((out) => {
          settled = out.settled;
          count(out.kind);
          const a = exportAnswer(out);
          if ('status' in a) cb(a.status);
          else cb(null, a.reply);
        })
        .catch((e: unknown) => {
          count('failed');
          d.log.error({ err: e instanceof Error ? (e.stack ?? e.message) : String(e) }, 'OTLP/gRPC export failed');
          cb({ code: grpc.status.INTERNAL, details: 'internal error' });
        })
        .finally(() => {
          // spans still queued after an UNAVAILABLE answer keep their bytes counted until they leave
          if (settled) void settled.finally(() => d.budget.give(size));
          else d.budget.give(size);
        });
    },
  });
}
