// OTLP/gRPC receiver: opentelemetry.proto.collector.trace.v1.TraceService/Export. The message bytes are decoded
// by our own codec (no generated classes): INVALID_ARGUMENT for undecodable requests, RESOURCE_EXHAUSTED when the
// queue is full (OTLP clients retry it), partial_success for rejected spans.
import * as grpc from '@grpc/grpc-js';
import type { Counter } from 'prom-client';
import { encodeExportResponse } from '../../storage/api/otlp-proto.js';
import { method } from '../grpc-util.js';
import type { IngestPipeline } from '../pipeline.js';
import { ingest } from './ingest.js';

export const TRACE_SERVICE: grpc.ServiceDefinition = { Export: method('/opentelemetry.proto.collector.trace.v1.TraceService/Export') };

/** Adds the OTLP trace service to a gRPC server. */
export function addOtlpTraceService(server: grpc.Server, pipeline: IngestPipeline, received: Counter<string>): void {
  server.addService(TRACE_SERVICE, {
    Export: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      const out = ingest(pipeline, call.request, 'protobuf');
      if (out.kind === 'invalid') {
        received.inc({ transport: 'grpc', outcome: 'invalid' });
        return cb({ code: grpc.status.INVALID_ARGUMENT, details: out.message });
      }
      if (out.kind === 'overloaded') {
        received.inc({ transport: 'grpc', outcome: 'overloaded' });
        return cb({ code: grpc.status.RESOURCE_EXHAUSTED, details: out.message });
      }
      received.inc({ transport: 'grpc', outcome: 'accepted' });
      cb(null, encodeExportResponse(out.rejected, out.message));
    },
  });
}
