// The embedded backend's sampling store: throughput under 'h' at(8) seq(8), probabilities under 'b' at(8).
import { type SamplingStore, type ServiceOperationValues, type Throughput, type TimeRange, checkTimeRange } from '../api/index.js';
import type { EmbeddedDb } from './db.js';
import { key, prefixEnd, tag, u64 } from './keys.js';

export class EmbeddedSamplingStore implements SamplingStore {
  constructor(private readonly db: EmbeddedDb) {}

  async insertThroughput(at: bigint, throughput: Throughput[]): Promise<void> {
    await this.db.commitNumbered((seq) => this.db.meta.putSync(key(tag('h'), u64(at), u64(seq)), Buffer.from(JSON.stringify(throughput))));
  }

  async getThroughput(r: TimeRange): Promise<(Throughput & { at: bigint })[]> {
    checkTimeRange(r);
    const h = tag('h');
    const out: (Throughput & { at: bigint })[] = [];
    for (const { key: k, value } of this.db.meta.getRange({ start: key(h, u64(r.start)), end: prefixEnd(key(h, u64(r.end))) })) {
      const at = k.readBigUInt64BE(1);
      for (const t of JSON.parse(value.toString()) as Throughput[]) out.push({ ...t, at });
    }
    return out;
  }

  async insertProbabilitiesAndQps(_hostname: string, at: bigint, probabilities: ServiceOperationValues): Promise<void> {
    await this.db.commit(() => this.db.meta.putSync(key(tag('b'), u64(at)), Buffer.from(JSON.stringify(probabilities))));
  }

  async getLatestProbabilities(): Promise<ServiceOperationValues> {
    const b = tag('b');
    for (const { value } of this.db.meta.getRange({ start: prefixEnd(b), end: b, reverse: true, limit: 1 })) return JSON.parse(value.toString()) as ServiceOperationValues;
    return {};
  }
}
