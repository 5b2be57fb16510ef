// Jaeger remote sampling: HTTP on 5778 (GET /sampling?service=, also / and /api/sampling, which clients use
// too) and gRPC jaeger.api_v2.SamplingManager/GetSamplingStrategy on 5779 (proto/api_v2/sampling.proto of
// jaeger-idl). Both answer from the policy in force at the moment of the request.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type DescMessage, ScalarType, type UnknownField, create, toBinary } from '@bufbuild/protobuf';
import { WireType } from '@bufbuild/protobuf/wire';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { SamplingStrategyResponse } from '../../sampling/evaluate.js';
import { SamplingStrategyParametersSchema, SamplingStrategyResponseSchema, SamplingStrategyType } from '../../gen/api_v2/sampling_pb.js';
import { decode } from '../grpc-codec.js';
import { method } from '../grpc-util.js';
import { guarded, hardenServer, requestUrl } from '../http-guard.js';
import type { HttpServerFactory } from '../listener-security.js';

/** SamplingStrategyParameters { string serviceName = 1 } */
export const decodeStrategyParameters = (buf: Buffer): string => decode(SamplingStrategyParametersSchema, buf, 'SamplingStrategyParameters').serviceName;

/**
 * Puts the 0.0 doubles of `msg` (and of the messages it holds) on the wire. proto3 leaves zeros out, but this
 * endpoint has always sent every double: a client reading with field presence (e.g. @grpc/proto-loader with
 * defaults off) would otherwise see a blocked service's samplingRate 0 as unset. The generated encoder writes
 * unknown fields verbatim after the known ones, so a zero goes there as an explicit field of the same number.
 */
function keepZeroDoubles(desc: DescMessage, msg: Record<string, unknown> & { $unknown?: UnknownField[] | undefined }): void {
  for (const f of desc.fields) {
    const v = msg[f.localName];
    if (f.fieldKind === 'scalar' && f.scalar === ScalarType.DOUBLE && !f.oneof && v === 0) {
      const data = new Uint8Array(8);
      new DataView(data.buffer).setFloat64(0, v, true);
      (msg.$unknown ??= []).push({ no: f.number, wireType: WireType.Bit64, data });
    } else if (f.fieldKind === 'message' && v) keepZeroDoubles(f.message, v as Record<string, unknown>);
    else if (f.fieldKind === 'list' && f.listKind === 'message') for (const x of v as Record<string, unknown>[]) keepZeroDoubles(f.message, x);
  }
}

/** SamplingStrategyResponse as protobuf (strategyType enum: PROBABILISTIC = 0, RATE_LIMITING = 1). */
export function encodeStrategyResponse(s: SamplingStrategyResponse): Buffer {
  const o = s.operationSampling;
  const msg = create(SamplingStrategyResponseSchema, {
    strategyType: s.strategyType === 'RATE_LIMITING' ? SamplingStrategyType.RATE_LIMITING : SamplingStrategyType.PROBABILISTIC,
    ...(s.probabilisticSampling && { probabilisticSampling: { samplingRate: s.probabilisticSampling.samplingRate } }),
    ...(s.rateLimitingSampling && { rateLimitingSampling: { maxTracesPerSecond: s.rateLimitingSampling.maxTracesPerSecond } }),
    ...(o && {
      operationSampling: {
        defaultSamplingProbability: o.defaultSamplingProbability,
        defaultLowerBoundTracesPerSecond: o.defaultLowerBoundTracesPerSecond,
        perOperationStrategies: o.perOperationStrategies.map((op) => ({ operation: op.operation, probabilisticSampling: { samplingRate: op.probabilisticSampling.samplingRate } })),
        defaultUpperBoundTracesPerSecond: o.defaultUpperBoundTracesPerSecond,
      },
    }),
  });
  keepZeroDoubles(SamplingStrategyResponseSchema, msg as unknown as Record<string, unknown>);
  const b = toBinary(SamplingStrategyResponseSchema, msg);
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/** The JSON of Jaeger's /sampling (protobuf JSON with defaults emitted and nulls removed). */
export const strategyJson = (s: SamplingStrategyResponse): string => JSON.stringify(s);

/** The legacy form served on "/": the strategy type as its enum number, as Thrift 0.9.2 clients expect. */
export const legacyStrategyJson = (s: SamplingStrategyResponse): string => JSON.stringify({ ...s, strategyType: s.strategyType === 'RATE_LIMITING' ? 1 : 0 });

export type StrategySource = (service: string) => SamplingStrategyResponse;

export async function startSamplingHttp(host: string, port: number, source: StrategySource, log: Logger, create: HttpServerFactory = createServer): Promise<Server & { port: number }> {
  const server = create({}, guarded('sampling', log, (req, res) => {
    const send = (code: number, body: string, type = 'application/json') => {
      res.writeHead(code, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    };
    const url = requestUrl(req);
    if (!url) return send(400, 'the request target is not a URL path: use GET /sampling?service=NAME\n', 'text/plain');
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, "use GET /sampling?service=NAME\n", 'text/plain');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    if (path !== '/sampling' && path !== '/api/sampling' && path !== '/') return send(404, `no such route ${url.pathname}: use GET /sampling?service=NAME\n`, 'text/plain');
    const services = url.searchParams.getAll('service');
    if (services.length !== 1) return send(400, "'service' parameter must be provided once\n", 'text/plain');
    const strategy = source(services[0]!);
    send(200, path === '/' ? legacyStrategyJson(strategy) : strategyJson(strategy));
  }));
  hardenServer(server, log, 'sampling');
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  log.info({ port: bound }, 'remote sampling (HTTP) listening');
  return Object.assign(server, { port: bound });
}

export function addSamplingManager(server: grpc.Server, source: StrategySource): void {
  server.addService(
    { GetSamplingStrategy: method('/jaeger.api_v2.SamplingManager/GetSamplingStrategy') },
    {
      GetSamplingStrategy: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        let service: string;
        try {
          service = decodeStrategyParameters(call.request);
        } catch (e) {
          return cb({ code: grpc.status.INVALID_ARGUMENT, details: e instanceof Error ? e.message : String(e) });
        }
        if (!service) return cb({ code: grpc.status.INVALID_ARGUMENT, details: 'serviceName is required' });
        let reply: Buffer;
        try {
          reply = encodeStrategyResponse(source(service));
        } catch (e) {
          // last resort: a failing policy evaluation answers INTERNAL instead of escaping the handler
          return cb({ code: grpc.status.INTERNAL, details: `cannot compute the sampling strategy: ${e instanceof Error ? e.message : String(e)}` });
        }
        cb(null, reply);
      },
    },
  );
}
