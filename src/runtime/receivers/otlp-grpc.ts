// OTLP/gRPC receiver: opentelemetry.proto.collector.trace.v1.TraceService/Export. The message bytes are decoded
// by our own codec (no generated classes): INVALID_ARGUMENT for undecodable requests, RESOURCE_EXHAUSTED when the
// queue is full (OTLP clients retry it), partial_success for rejected spans.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Counter } from 'prom-client';
import { encodeExportResponse } from '../../storage/api/otlp-proto.js';
import type { IngestPipeline } from '../pipeline.js';
import { ingest } from './ingest.js';

const raw = (b: Buffer): Buffer => b;

export const TRACE_SERVICE: grpc.ServiceDefinition = {
  Export: {
    path: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
    requestStream: false,
    responseStream: false,
    requestSerialize: raw,
    requestDeserialize: raw,
    responseSerialize: raw,
    responseDeserialize: raw,
  },
};

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

export async function startGrpcServer(host: string, port: number, maxMessageBytes: number, setup: (s: grpc.Server) => void, log: Logger, name: string): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server({ 'grpc.max_receive_message_length': maxMessageBytes, 'grpc.max_send_message_length': maxMessageBytes });
  setup(server);
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host.includes(':') ? `[${host}]` : host}:${port}`, grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  log.info({ port: bound }, `${name} listening`);
  return { server, port: bound };
}
