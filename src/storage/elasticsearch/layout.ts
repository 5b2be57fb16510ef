// Index, alias and data stream names of the three layouts, as Jaeger names them:
//   daily       <p>jaeger-span-YYYY-MM-DD, <p>jaeger-service-YYYY-MM-DD (UTC days)
//   rollover    write through <p>jaeger-span-write, read through <p>jaeger-span-read; indices <p>jaeger-span-000001, ...
//   dataStream  spans in the data stream <prefix>.jaeger.spans (jaeger.spans without prefix); services stay daily
// Dependencies are daily in every layout; sampling data and locks live in <p>jaeger-sampling, the schema version
// in <p>jaeger-meta. <p> is the prefix followed by "-" (nothing without a prefix).

export type Layout = 'daily' | 'rollover' | 'dataStream';

export { parseDurationMs } from '../api/duration.js';



const NS_PER_DAY = 86_400_000_000_000n;
/** beyond this many days a read lists the index pattern instead of each day */
const MAX_LISTED_DAYS = 92;

export const day = (ns: bigint): string => new Date(Number(ns / 1_000_000n)).toISOString().slice(0, 10);

export class Names {
  readonly p: string;
  readonly spanBase: string;
  readonly serviceBase: string;
  readonly dependenciesBase: string;
  readonly sampling: string;
  readonly meta: string;
  readonly stream: string;

  constructor(
    readonly prefix: string,
    readonly layout: Layout,
  ) {
    this.p = prefix ? `${prefix}-` : '';
    this.spanBase = `${this.p}jaeger-span`;
    this.serviceBase = `${this.p}jaeger-service`;
    this.dependenciesBase = `${this.p}jaeger-dependencies`;
    this.sampling = `${this.p}jaeger-sampling`;
    this.meta = `${this.p}jaeger-meta`;
    this.stream = prefix ? `${prefix}.jaeger.spans` : 'jaeger.spans';
  }

  private daily(base: string, start?: bigint, end?: bigint): string {
    if (start === undefined || end === undefined || end < start || (end - start) / NS_PER_DAY > BigInt(MAX_LISTED_DAYS)) return `${base}-*`;
    const out: string[] = [];
    for (let t = (start / NS_PER_DAY) * NS_PER_DAY; t <= end; t += NS_PER_DAY) out.push(`${base}-${day(t)}`);
    return out.join(',');
  }

  spanWrite(startNs: bigint): string {
    if (this.layout === 'dataStream') return this.stream;
    if (this.layout === 'rollover') return `${this.spanBase}-write`;
    return `${this.spanBase}-${day(startNs)}`;
  }

  spanRead(start?: bigint, end?: bigint): string {
    if (this.layout === 'dataStream') return this.stream;
    if (this.layout === 'rollover') return `${this.spanBase}-read`;
    return this.daily(this.spanBase, start, end);
  }

  serviceWrite(startNs: bigint): string {
    return this.layout === 'rollover' ? `${this.serviceBase}-write` : `${this.serviceBase}-${day(startNs)}`;
  }

  serviceRead(): string {
    return this.layout === 'rollover' ? `${this.serviceBase}-read` : `${this.serviceBase}-*`;
  }

  dependenciesWrite(atNs: bigint): string {
    return `${this.dependenciesBase}-${day(atNs)}`;
  }

  dependenciesRead(start: bigint, end: bigint): string {
    return this.daily(this.dependenciesBase, start, end);
  }

  /** every index and stream that holds data (for purge and refresh; not the schema version) */
  allData(): string {
    return [`${this.spanBase}-*`, `${this.serviceBase}-*`, `${this.dependenciesBase}-*`, this.sampling, ...(this.layout === 'dataStream' ? [this.stream] : [])].join(',');
  }

  /** Daily indices (and rollover / backing indices) of spans and services older than `cutoffDay` (YYYY-MM-DD). */
  isExpiredDaily(index: string, cutoffDay: string): boolean {
    for (const base of [this.spanBase, this.serviceBase, this.dependenciesBase]) {
      const m = new RegExp(`^${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-(\\d{4}-\\d{2}-\\d{2})$`).exec(index);
      if (m) return m[1]! < cutoffDay;
    }
    return false;
  }
}
