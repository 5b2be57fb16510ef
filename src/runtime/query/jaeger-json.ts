// OTLP traces to the JSON trace model of Jaeger's classic HTTP API (what Jaeger UI and Grafana's Jaeger data
// source read): spans with references, typed tags, logs, and a process table; times in microseconds.
import { type AttrValue, type KeyValue, type ResourceSpans, SPAN_KIND_NAMES, type Span, SpanKind, StatusCode, attrToString } from '../../storage/api/index.js';

export interface JTag {
  key: string;
  type: 'string' | 'bool' | 'int64' | 'float64' | 'binary';
  value: string | boolean | number;
}

export interface JSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  references: { refType: 'CHILD_OF' | 'FOLLOWS_FROM'; traceID: string; spanID: string }[];
  startTime: number;
  duration: number;
  tags: JTag[];
  logs: { timestamp: number; fields: JTag[] }[];
  processID: string;
  warnings: string[] | null;
}

export interface JTrace {
  traceID: string;
  spans: JSpan[];
  processes: Record<string, { serviceName: string; tags: JTag[] }>;
  warnings: string[] | null;
}

/** Jaeger prints a trace ID with a zero high half as 16 hex characters. */
export const jaegerTraceId = (id: string): string => (id.startsWith('0000000000000000') ? id.slice(16) : id);

function tag(key: string, v: AttrValue): JTag {
  switch (typeof v) {
    case 'string':
      return { key, type: 'string', value: v };
    case 'boolean':
      return { key, type: 'bool', value: v };
    case 'bigint':
      // JSON numbers lose precision above 2^53; Jaeger UI reads these as numbers too
      return { key, type: 'int64', value: Number(v) };
    case 'number':
      return { key, type: 'float64', value: v };
  }
  if (v instanceof Uint8Array) return { key, type: 'binary', value: Buffer.from(v).toString('base64') };
  return { key, type: 'string', value: attrToString(v) };
}

const tags = (attrs: readonly KeyValue[]): JTag[] => attrs.map((a) => tag(a.key, a.value));

const micros = (ns: bigint): number => Number(ns / 1000n);

function spanTags(s: Span, scope: { name: string; version: string }): JTag[] {
  const out = tags(s.attributes);
  if (scope.name) out.push({ key: 'otel.scope.name', type: 'string', value: scope.name });
  if (scope.version) out.push({ key: 'otel.scope.version', type: 'string', value: scope.version });
  if (s.kind !== SpanKind.Unspecified) out.push({ key: 'span.kind', type: 'string', value: SPAN_KIND_NAMES[s.kind] });
  if (s.status.code === StatusCode.Error) {
    out.push({ key: 'error', type: 'bool', value: true });
    out.push({ key: 'otel.status_code', type: 'string', value: 'ERROR' });
    if (s.status.message) out.push({ key: 'otel.status_description', type: 'string', value: s.status.message });
  } else if (s.status.code === StatusCode.Ok) out.push({ key: 'otel.status_code', type: 'string', value: 'OK' });
  if (s.traceState) out.push({ key: 'w3c.tracestate', type: 'string', value: s.traceState });
  return out;
}

/** Groups spans by trace, in the order traces first appear. */
export function toJaegerTraces(resourceSpans: readonly ResourceSpans[]): JTrace[] {
  const traces = new Map<string, JTrace & { procKeys: Map<string, string> }>();
  for (const rs of resourceSpans) {
    const serviceName = attrToString(rs.resource.attributes.find((a) => a.key === 'service.name')?.value ?? '');
    const procTags = tags(rs.resource.attributes.filter((a) => a.key !== 'service.name'));
    const procKey = JSON.stringify([serviceName, procTags]);
    for (const ss of rs.scopeSpans) {
      for (const s of ss.spans) {
        let t = traces.get(s.traceId);
        if (!t) traces.set(s.traceId, (t = { traceID: jaegerTraceId(s.traceId), spans: [], processes: {}, warnings: null, procKeys: new Map() }));
        let pid = t.procKeys.get(procKey);
        if (!pid) {
          pid = `p${t.procKeys.size + 1}`;
          t.procKeys.set(procKey, pid);
          t.processes[pid] = { serviceName, tags: procTags };
        }
        const refs: JSpan['references'] = [];
        if (s.parentSpanId) refs.push({ refType: 'CHILD_OF', traceID: jaegerTraceId(s.traceId), spanID: s.parentSpanId });
        for (const l of s.links) refs.push({ refType: 'FOLLOWS_FROM', traceID: jaegerTraceId(l.traceId), spanID: l.spanId });
        t.spans.push({
          traceID: jaegerTraceId(s.traceId),
          spanID: s.spanId,
          operationName: s.name,
          references: refs,
          startTime: micros(s.startTimeUnixNano),
          duration: s.endTimeUnixNano > s.startTimeUnixNano ? micros(s.endTimeUnixNano - s.startTimeUnixNano) : 0,
          tags: spanTags(s, ss.scope),
          logs: s.events.map((e) => ({ timestamp: micros(e.timeUnixNano), fields: [{ key: 'event', type: 'string', value: e.name }, ...tags(e.attributes)] })),
          processID: pid,
          warnings: null,
        });
      }
    }
  }
  return [...traces.values()].map(({ procKeys: _p, ...t }) => t);
}
