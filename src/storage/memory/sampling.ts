// The memory backend's sampling store (adaptive sampling's throughput and probabilities).
import { type SamplingStore, type ServiceOperationValues, type Throughput, type TimeRange, checkTimeRange } from '../api/index.js';
import type { MemoryState } from './state.js';

/** throughput records kept (oldest dropped first) */
const MAX_THROUGHPUT = 100_000;

export class MemorySamplingStore implements SamplingStore {
  constructor(private readonly state: MemoryState) {}

  async insertThroughput(at: bigint, throughput: Throughput[]): Promise<void> {
    const list = this.state.throughput;
    for (const x of throughput) list.push({ ...x, probabilities: [...x.probabilities], at });
    // bounded: adaptive sampling reads only the last intervals
    if (list.length > MAX_THROUGHPUT) list.splice(0, list.length - MAX_THROUGHPUT);
  }

  async getThroughput(r: TimeRange): Promise<(Throughput & { at: bigint })[]> {
    checkTimeRange(r);
    return this.state.throughput.filter((x) => x.at >= r.start && x.at <= r.end).map((x) => ({ ...x, probabilities: [...x.probabilities] }));
  }

  async insertProbabilitiesAndQps(_hostname: string, at: bigint, probabilities: ServiceOperationValues): Promise<void> {
    const latest = this.state.latestProbabilities;
    if (!latest || at >= latest.at) this.state.latestProbabilities = { at, values: structuredClone(probabilities) };
  }

  async getLatestProbabilities(): Promise<ServiceOperationValues> {
    return structuredClone(this.state.latestProbabilities?.values ?? {});
  }
}
