// The memory backend's holdings and the cost of its bounds as Prometheus metrics, read from its stats at scrape time.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { MemoryBackend, MemoryStats } from '../storage/memory/store.js';

export function registerMemoryMetrics(registry: Registry, memory: MemoryBackend): void {
  const gauge = (name: string, help: string, read: (s: MemoryStats) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read(memory.stats()));
      },
    });
  gauge('jso_runtime_memory_traces', 'Traces held by the memory backend', (s) => s.traces);
  gauge('jso_runtime_memory_spans', 'Spans held by the memory backend', (s) => s.spans);
  gauge('jso_runtime_memory_bytes', 'Estimated heap bytes of the spans held by the memory backend', (s) => s.bytes);
  gauge('jso_runtime_memory_max_bytes', 'maxBytes of the memory backend (0: no byte bound)', (s) => s.maxBytes ?? 0);
  const counter = (name: string, help: string, byReason: Record<string, (s: MemoryStats) => number>) => {
    const last = new Map<string, number>();
    new Counter({
      name,
      help,
      labelNames: ['reason'] as const,
      registers: [registry],
      collect() {
        const s = memory.stats();
        for (const [reason, read] of Object.entries(byReason)) {
          const v = read(s);
          this.inc({ reason }, Math.max(0, v - (last.get(reason) ?? 0)));
          last.set(reason, v);
        }
      },
    });
  };
  counter('jso_runtime_memory_traces_evicted_total', 'Traces the memory backend evicted, by the bound that made room', { maxTraces: (s) => s.tracesEvictedMaxTraces, maxBytes: (s) => s.tracesEvictedMaxBytes });
  counter('jso_runtime_memory_spans_refused_total', 'Spans the memory backend refused', { maxSpansPerTrace: (s) => s.spansRefused });
  counter('jso_runtime_memory_not_indexed_total', 'Names the memory backend stored but did not index', { maxServices: (s) => s.servicesNotIndexed, maxOperations: (s) => s.operationsNotIndexed });
}
