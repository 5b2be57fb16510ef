// The Elasticsearch / OpenSearch sampling store: throughput and probability documents in <p>jaeger-sampling.
import type { SamplingStore, ServiceOperationValues, Throughput, TimeRange } from '../api/index.js';
import { checkTimeRange } from '../api/index.js';
import type { SearchConnection } from './connection.js';
import { type DocRequest, latestProbabilitiesRequest, probabilitiesDoc, throughputDoc, throughputRequest } from './queries.js';

export class SearchSamplingStore implements SamplingStore {
  constructor(private readonly conn: SearchConnection) {}

  /** Indexes one document, searchable at once (the next reader may be another replica). */
  private async insert(d: DocRequest): Promise<void> {
    await this.conn.client.request('POST', `/${d.index}/_doc`, { body: d.doc, query: { refresh: true } });
  }

  async insertThroughput(at: bigint, throughput: Throughput[]): Promise<void> {
    await this.insert(throughputDoc(this.conn.names, at, throughput));
  }

  async getThroughput(r: TimeRange): Promise<(Throughput & { at: bigint })[]> {
    checkTimeRange(r);
    const resp = await this.conn.search<{ at: string; data: { throughput: Throughput[] } }>(throughputRequest(this.conn.names, r));
    return resp.hits.hits.flatMap((h) => h._source.data.throughput.map((t) => ({ ...t, at: BigInt(h._source.at) })));
  }

  async insertProbabilitiesAndQps(hostname: string, at: bigint, probabilities: ServiceOperationValues, qps: ServiceOperationValues): Promise<void> {
    await this.insert(probabilitiesDoc(this.conn.names, hostname, at, probabilities, qps));
  }

  async getLatestProbabilities(): Promise<ServiceOperationValues> {
    const resp = await this.conn.search<{ data: { probabilities: ServiceOperationValues } }>(latestProbabilitiesRequest(this.conn.names));
    return resp.hits.hits[0]?._source.data.probabilities ?? {};
  }
}
