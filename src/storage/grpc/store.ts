// A remote jaeger.storage.v2 server as the backend: reads go to its TraceReader and DependencyReader, writes to its
// OTLP TraceService/Export (on the same server or a separate writer endpoint) and count as stored only once the
// remote acknowledged them. The remote API has no dependency writer, sampling store, lock or purge: dependency
// writes and purge are Unimplemented; adaptive sampling keeps its throughput and lease in this process (see
// GrpcBackend.samplingStore).
import * as grpc from '@grpc/grpc-js';
import {
  type BackendFactory,
  type DependencyLink,
  type DependencyReader,
  type DependencyWriter,
  type FoundTraceId,
  type GetTraceParams,
  InvalidArgumentError,
  type Lock,
  type Operation,
  type OperationQuery,
  type Purger,
  type ResourceSpans,
  type SamplingStore,
  type StorageContext,
  StorageError,
  type TimeRange,
  type TraceChunk,
  type TraceQuery,
  type TraceReader,
  type TraceSummary,
  type TraceWriter,
  LEAST_CAPABLE,
  type SearchCapabilities,
  UnavailableError,
  checkGetTraceParams,
  checkOperationQuery,
  checkTimeRange,
  checkTraceQuery,
  summarizeTraces,
} from '../api/index.js';
import { validateBatch } from '../api/semantics.js';
import { encodeTracesProto } from '../../otlp/otlp-proto.js';
import { MemoryLock } from '../memory/lock.js';
import { MemorySamplingStore } from '../memory/sampling.js';
import { MemoryState } from '../memory/state.js';
import {
  decodeExportResponse,
  decodeFindTraceIdsResponse,
  decodeFindTraceSummariesResponse,
  decodeGetCapabilitiesResponse,
  decodeGetDependenciesResponse,
  decodeGetOperationsResponse,
  decodeGetServicesResponse,
  encodeFindRequest,
  encodeGetCapabilitiesRequest,
  encodeGetDependenciesRequest,
  encodeGetOperationsRequest,
  encodeGetServicesRequest,
  encodeGetTracesRequest,
  tracesDataChunks,
} from './codec.js';

export interface GrpcBackendConfig {
  /** host:port of the TraceReader / DependencyReader */
  endpoint: string;
  /** host:port of the OTLP TraceService (default: endpoint) */
  writerEndpoint?: string;
  tls?: { ca?: string; serverName?: string };
  /** sent as `authorization: Bearer <token>` on every call; never logged */
  token?: string;
  /** deadline of each call, ms */
  timeoutMs: number;
}

/** Remote replies may be larger than gRPC's default 4 MiB when the remote does not split big traces. */
const MAX_RECEIVE_BYTES = 64 * 1024 * 1024;
const id = (b: Buffer): Buffer => b;

const RETRIED = new Set([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED, grpc.status.ABORTED, grpc.status.RESOURCE_EXHAUSTED, grpc.status.CANCELLED]);

/** A failed call as the storage API's error: what the pipeline retries is Unavailable. */
/** how long a remote's UNIMPLEMENTED (FindTraceSummaries, Capabilities) is believed before it is asked again */
const NEGATIVE_TTL_MS = 5 * 60_000;
/** how long a remote's Capabilities answer is kept */
const CAPABILITIES_TTL_MS = 15 * 60_000;

export function storageError(e: unknown, what: string): Error {
  if (e instanceof StorageError) return e;
  const se = e as Partial<grpc.ServiceError>;
  if (typeof se.code !== 'number') return new StorageError('Internal', `${what}: ${e instanceof Error ? e.message : String(e)}`);
  const detail = `${what}: remote storage answered ${grpc.status[se.code] ?? se.code}: ${se.details ?? ''}`;
  if (RETRIED.has(se.code)) return new UnavailableError(detail);
  if (se.code === grpc.status.INVALID_ARGUMENT || se.code === grpc.status.OUT_OF_RANGE) return new InvalidArgumentError(what, se.details ?? 'refused by the remote storage');
  if (se.code === grpc.status.UNIMPLEMENTED) return new StorageError('Unimplemented', detail);
  return new StorageError('Internal', detail);
}

function channel(endpoint: string, c: GrpcBackendConfig): grpc.Client {
  const creds = c.tls ? grpc.credentials.createSsl(c.tls.ca ? Buffer.from(c.tls.ca) : null) : grpc.credentials.createInsecure();
  const options: grpc.ChannelOptions = { 'grpc.max_receive_message_length': MAX_RECEIVE_BYTES, 'grpc.max_send_message_length': MAX_RECEIVE_BYTES };
  if (c.tls?.serverName) {
    options['grpc.ssl_target_name_override'] = c.tls.serverName;
    options['grpc.default_authority'] = c.tls.serverName;
  }
  return new grpc.Client(endpoint, creds, options);
}

export class GrpcBackend implements BackendFactory, TraceReader, TraceWriter, DependencyReader {
  readonly type = 'grpc';
  private readonly reader: grpc.Client;
  private readonly writer: grpc.Client;
  private readonly local = new MemoryState({ maxTraces: 1 });

  constructor(private readonly config: GrpcBackendConfig) {
    this.reader = channel(config.endpoint, config);
    this.writer = config.writerEndpoint && config.writerEndpoint !== config.endpoint ? channel(config.writerEndpoint, config) : this.reader;
  }

  private metadata(): grpc.Metadata {
    const md = new grpc.Metadata();
    if (this.config.token) md.set('authorization', `Bearer ${this.config.token}`);
    return md;
  }

  private unary(client: grpc.Client, path: string, req: Buffer, ctx?: StorageContext): Promise<Buffer> {
    ctx?.signal?.throwIfAborted();
    return new Promise((resolve, reject) => {
      const call = client.makeUnaryRequest(path, id, id, req, this.metadata(), { deadline: Date.now() + this.config.timeoutMs }, (err, res) => {
        ctx?.signal?.removeEventListener('abort', cancel);
        if (err) reject(storageError(err, path));
        else resolve(res ?? Buffer.alloc(0));
      });
      const cancel = () => call.cancel();
      ctx?.signal?.addEventListener('abort', cancel, { once: true });
    });
  }

  private stream(path: string, req: Buffer, ctx?: StorageContext): AsyncGenerator<TraceChunk[]> {
    return this.messages(path, req, ctx, tracesDataChunks);
  }

  /** the messages of a server stream, each decoded by `decode`; empty results are skipped */
  private async *messages<T>(path: string, req: Buffer, ctx: StorageContext | undefined, decode: (b: Buffer) => T[]): AsyncGenerator<T[]> {
    ctx?.signal?.throwIfAborted();
    const call = this.reader.makeServerStreamRequest(path, id, id, req, this.metadata(), { deadline: Date.now() + this.config.timeoutMs });
    const cancel = () => call.cancel();
    ctx?.signal?.addEventListener('abort', cancel, { once: true });
    try {
      for await (const msg of call as AsyncIterable<Buffer>) {
        const out = decode(msg);
        if (out.length) yield out;
      }
    } catch (e) {
      ctx?.signal?.throwIfAborted();
      throw storageError(e, path);
    } finally {
      ctx?.signal?.removeEventListener('abort', cancel);
      call.cancel();
    }
  }

  async provision(): Promise<void> {}

  traceWriter(): TraceWriter {
    return this;
  }
  traceReader(): TraceReader {
    return this;
  }
  dependencyReader(): DependencyReader {
    return this;
  }
  dependencyWriter(): DependencyWriter {
    return {
      writeDependencies: () => Promise.reject(new StorageError('Unimplemented', 'the jaeger.storage.v2 remote storage API has no dependency writer: dependencies come from the remote itself')),
    };
  }
  /**
   * The remote API has no sampling store: adaptive sampling's throughput and probabilities stay in this process,
   * bounded like the memory backend's, and each runtime replica computes from what it saw itself.
   */
  samplingStore(): SamplingStore {
    return new MemorySamplingStore(this.local);
  }
  /** a lease held in this process only (see samplingStore: each replica decides for itself) */
  lock(): Lock {
    return new MemoryLock(this.local);
  }
  purger(): Purger {
    return { purge: () => Promise.reject(new StorageError('Unimplemented', 'the jaeger.storage.v2 remote storage API cannot purge: clear the remote storage itself')) };
  }

  async close(): Promise<void> {
    this.reader.close();
    if (this.writer !== this.reader) this.writer.close();
  }

  /** the remote answers GetServices */
  async ping(): Promise<void> {
    await this.getServices();
  }

  async writeTraces(traces: ResourceSpans[], ctx?: StorageContext): Promise<void> {
    validateBatch(traces);
    const res = decodeExportResponse(await this.unary(this.writer, '/opentelemetry.proto.collector.trace.v1.TraceService/Export', encodeTracesProto(traces), ctx));
    if (res.rejected > 0n) throw new InvalidArgumentError('traces', `the remote storage rejected ${res.rejected} span(s): ${res.message}`);
  }

  /** validation runs when the result is first read, like every backend's */
  async *getTraces(params: GetTraceParams[], ctx?: StorageContext): AsyncGenerator<TraceChunk[]> {
    const checked = checkGetTraceParams(params);
    // a trace asked for twice comes once
    const seen = new Set<string>();
    const unique = checked.filter((p) => !seen.has(p.traceId) && seen.add(p.traceId));
    if (unique.length) yield* this.stream('/jaeger.storage.v2.TraceReader/GetTraces', encodeGetTracesRequest(unique), ctx);
  }

  async getServices(ctx?: StorageContext): Promise<string[]> {
    return decodeGetServicesResponse(await this.unary(this.reader, '/jaeger.storage.v2.TraceReader/GetServices', encodeGetServicesRequest(), ctx));
  }

  async getOperations(q: OperationQuery, ctx?: StorageContext): Promise<Operation[]> {
    checkOperationQuery(q);
    return decodeGetOperationsResponse(await this.unary(this.reader, '/jaeger.storage.v2.TraceReader/GetOperations', encodeGetOperationsRequest(q), ctx));
  }

  async *findTraces(q: TraceQuery, ctx?: StorageContext): AsyncGenerator<TraceChunk[]> {
    yield* this.stream('/jaeger.storage.v2.TraceReader/FindTraces', encodeFindRequest(q, checkTraceQuery(q)), ctx);
  }

  async *findTraceIds(q: TraceQuery, ctx?: StorageContext): AsyncGenerator<FoundTraceId[]> {
    const ids = decodeFindTraceIdsResponse(await this.unary(this.reader, '/jaeger.storage.v2.TraceReader/FindTraceIDs', encodeFindRequest(q, checkTraceQuery(q)), ctx));
    if (ids.length) yield ids;
  }

  /**
   * Until when summaries come from FindTraces because the remote answered FindTraceSummaries UNIMPLEMENTED (it
   * predates it); asked again after NEGATIVE_TTL_MS, as a replica behind the same address may be newer.
   */
  private noRemoteSummariesUntil = 0;

  /** the remote's FindTraceSummaries, or, where it has none, the summaries of its FindTraces */
  async *findTraceSummaries(q: TraceQuery, ctx?: StorageContext): AsyncGenerator<TraceSummary[]> {
    const req = encodeFindRequest(q, checkTraceQuery(q));
    if (Date.now() >= this.noRemoteSummariesUntil) {
      let any = false;
      try {
        for await (const batch of this.messages('/jaeger.storage.v2.TraceReader/FindTraceSummaries', req, ctx, decodeFindTraceSummariesResponse)) {
          any = true;
          yield batch;
        }
        return;
      } catch (e) {
        if (any || !(e instanceof StorageError) || e.code !== 'Unimplemented') throw e;
        this.noRemoteSummariesUntil = Date.now() + NEGATIVE_TTL_MS;
      }
    }
    yield* summarizeTraces(this.findTraces(q, ctx));
  }

  private capabilities: { answer: Promise<SearchCapabilities>; until: number } | undefined;

  /**
   * The remote's Capabilities: asked once (without the caller's signal, as the answer is shared) and kept, a remote
   * without that service (UNIMPLEMENTED) read as the least capable for NEGATIVE_TTL_MS; a failure is not kept. Each
   * caller stops waiting when its own signal aborts.
   */
  searchCapabilities(ctx?: StorageContext): Promise<SearchCapabilities> {
    if (!this.capabilities || Date.now() >= this.capabilities.until) {
      // kept for CAPABILITIES_TTL_MS (a remote may be upgraded behind the same address), a negative answer less long
      const entry: { answer: Promise<SearchCapabilities>; until: number } = { answer: Promise.resolve({ ...LEAST_CAPABLE }), until: Date.now() + CAPABILITIES_TTL_MS };
      entry.answer = this.unary(this.reader, '/jaeger.storage.v2.Capabilities/GetCapabilities', encodeGetCapabilitiesRequest())
        .then(decodeGetCapabilitiesResponse)
        .catch((e: unknown) => {
          if (e instanceof StorageError && e.code === 'Unimplemented') {
            entry.until = Date.now() + NEGATIVE_TTL_MS;
            return { ...LEAST_CAPABLE };
          }
          if (this.capabilities === entry) this.capabilities = undefined;
          throw e;
        });
      this.capabilities = entry;
    }
    const answer = this.capabilities.answer;
    const signal = ctx?.signal;
    if (!signal) return answer;
    signal.throwIfAborted();
    let stop = (): void => undefined;
    const aborted = new Promise<never>((_, reject) => {
      stop = () => reject(signal.reason as Error);
      signal.addEventListener('abort', stop, { once: true });
    });
    return Promise.race([answer, aborted]).finally(() => signal.removeEventListener('abort', stop));
  }

  async getDependencies(r: TimeRange, ctx?: StorageContext): Promise<DependencyLink[]> {
    checkTimeRange(r);
    const links = decodeGetDependenciesResponse(await this.unary(this.reader, '/jaeger.storage.v2.DependencyReader/GetDependencies', encodeGetDependenciesRequest(r), ctx));
    // some remotes (Jaeger's memory store) count calls within one service too; the storage API's links join services
    return links.filter((d) => d.parent !== d.child);
  }
}
