// Span documents of the Elasticsearch / OpenSearch backend, encoded by strings: each must equal what JSON.stringify
// of the documented layout gives (the reference below), so that existing indices read the same and a span written
// before and after lands on the same document ID. `match` is compared as a set (its order means nothing). No server.
import { createHash } from 'node:crypto';
import { type AttrValue, type KeyValue, type ResourceSpans, SPAN_KIND_NAMES, STATUS_NAMES, type Span, SpanKind, StatusCode, attrToString, newSpan, serviceOf } from '../../src/storage/api/model.js';
import { spanDuration, validateBatch } from '../../src/storage/api/semantics.js';
import type { SpanView } from '../../src/storage/api/semantics.js';
import { encodeAttributes, encodeSpan } from '../../src/otlp/otlp-json.js';
import { decodeTracesProto, encodeTracesProto } from '../../src/otlp/otlp-proto.js';
import { BulkBody, LONG_VALUE, RecordDecoder, ScopeDocParts, queryTerm, writeDoc } from '../../src/storage/elasticsearch/docs.js';

// ---- the reference: the document as JSON.stringify of its fields and record
const fit = (v: string): string => (v.length > LONG_VALUE ? `#sha256:${createHash('sha256').update(v).digest('hex')}` : v);
const term = (kind: string, key: string, value: string): string => `${kind}\u0000${fit(key)}\u0000${fit(value)}`;
function refTerms(st: SpanView): string[] {
  const out = new Set<string>();
  const add = (attrs: readonly KeyValue[]) => attrs.forEach((a) => out.add(term('a', a.key, attrToString(a.value))));
  const s = st.span;
  add(s.attributes);
  add(st.scope.attributes);
  add(st.resource.attributes);
  s.events.forEach((e) => add(e.attributes));
  s.links.forEach((l) => add(l.attributes));
  st.resource.attributes.forEach((a) => out.add(term('r', a.key, attrToString(a.value))));
  out.add(term('s', 'error', s.status.code === StatusCode.Error ? 'true' : 'false'));
  out.add(term('s', 'span.kind', SPAN_KIND_NAMES[s.kind]));
  out.add(term('s', 'span.status', STATUS_NAMES[s.status.code].toLowerCase()));
  out.add(term('s', 'scope.name', st.scope.name));
  out.add(term('s', 'scope.version', st.scope.version));
  return [...out];
}
function refDoc(st: SpanView): { docId: string; json: string } {
  const s = st.span;
  const record = JSON.stringify({
    resource: { attributes: encodeAttributes(st.resource.attributes), droppedAttributesCount: st.resource.droppedAttributesCount },
    resourceSchemaUrl: st.resourceSchemaUrl,
    scope: { name: st.scope.name, version: st.scope.version, attributes: encodeAttributes(st.scope.attributes), droppedAttributesCount: st.scope.droppedAttributesCount },
    scopeSchemaUrl: st.scopeSchemaUrl,
    span: encodeSpan(s),
  });
  const docId = `${s.traceId}-${s.spanId}-${createHash('sha256').update(record).digest('base64url').slice(0, 16)}`;
  const ns = s.startTimeUnixNano;
  const iso = `${new Date(Number(ns / 1_000_000n)).toISOString().slice(0, 19)}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}Z`;
  const fields = {
    docId,
    traceId: s.traceId,
    spanId: s.spanId,
    parentSpanId: s.parentSpanId,
    service: st.service,
    name: s.name,
    kind: SPAN_KIND_NAMES[s.kind],
    startTimeMillis: Number(ns / 1_000_000n),
    startTimeNanos: ns.toString(),
    durationNanos: spanDuration(s).toString(),
    '@timestamp': iso,
    match: refTerms(st),
  };
  return { docId, json: `${JSON.stringify(fields).slice(0, -1)},"record":${record}}` };
}

function spanViews(traces: readonly ResourceSpans[]): SpanView[] {
  return traces.flatMap((rs) => {
    const service = serviceOf(rs.resource);
    return rs.scopeSpans.flatMap((ss) => ss.spans.map((span) => ({ span, resource: rs.resource, resourceSchemaUrl: rs.schemaUrl, scope: ss.scope, scopeSchemaUrl: ss.schemaUrl, service })));
  });
}

/** the document of one span written alone (the writer writes a batch scope with one ScopeDocParts) */
function toDoc(st: SpanView): { docId: string; json: string } {
  const out = new BulkBody(4096);
  writeDoc(out, '{"index":{"_id":"', new ScopeDocParts(st.resource, st.resourceSchemaUrl, st.scope, st.scopeSchemaUrl, st.service), st.span);
  const text = out.buf.toString('utf8', 0, out.at);
  const json = text.slice(text.indexOf('\n') + 1, -1);
  return { docId: (JSON.parse(json) as { docId: string }).docId, json };
}

/** the document with its match terms sorted */
const normalized = (json: string): Record<string, unknown> => {
  const d = JSON.parse(json) as Record<string, unknown> & { match: string[] };
  return { ...d, match: [...d.match].sort() };
};

const long = 'x'.repeat(LONG_VALUE + 1);
const values: AttrValue[] = [
  'plain',
  'quote " backslash \\ newline \n tab \t nul \u0000 bell \u0007',
  'unicode é 漢字 😀 and a lone surrogate \ud800',
  '\u2028\u2029',
  '',
  long,
  true,
  false,
  0n,
  -9_223_372_036_854_775_808n,
  18_446_744_073_709_551_615n,
  0,
  -0,
  0.1,
  -1.5e-7,
  1e21,
  123456789012,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  new Uint8Array([0, 1, 255]),
  { array: ['a', 1n, { kvlist: [{ key: 'k"', value: 2.5 }] }] },
  { kvlist: [] },
  null,
];

const trace = (i: number) => i.toString(16).padStart(32, 'a');
const spanOf = (i: number) => (i + 1).toString(16).padStart(16, '0');

function spans(): Span[] {
  const out: Span[] = [];
  values.forEach((v, i) => {
    out.push(
      newSpan({
        traceId: trace(i),
        spanId: spanOf(i),
        parentSpanId: i % 2 ? spanOf(i + 100) : '',
        traceState: i % 3 ? '' : 'k=v,"q"',
        flags: i,
        name: i % 4 ? `op-${i}` : 'naïve "op" \u0001',
        kind: (i % 6) as SpanKind,
        startTimeUnixNano: [0n, 999_999n, 999_999_999n, 1_700_000_000_123_456_789n, 1_700_000_001_000_000_000n][i % 5]!,
        // no end, an end at the start, and one after it
        endTimeUnixNano: [0n, 1_700_000_001_000_000_000n, 1_800_000_000_000_000_001n][i % 3]!,
        attributes: [
          { key: `k${i}`, value: v },
          { key: 'shared', value: 'from-resource' },
          { key: i % 2 ? long + i : 'x', value: v },
        ],
        droppedAttributesCount: i % 2,
        events:
          i % 5 === 1
            ? [
                { timeUnixNano: 7n, name: 'e "1"', attributes: [{ key: `k${i}`, value: v }], droppedAttributesCount: 1 },
                { timeUnixNano: 8n, name: 'e2', attributes: [], droppedAttributesCount: 0 },
              ]
            : i % 5 === 2
              ? [{ timeUnixNano: 9n, name: 'no attributes', attributes: [], droppedAttributesCount: 0 }]
              : [],
        droppedEventsCount: i % 3,
        links: i % 7 === 3 ? [{ traceId: trace(99), spanId: spanOf(99), traceState: 'a=b', attributes: i % 2 ? [{ key: 'l', value: v }] : [], droppedAttributesCount: 2, flags: 257 }] : [],
        droppedLinksCount: i % 4,
        status: { code: (i % 3) as StatusCode, message: i % 3 === 2 ? 'failed: "x"\n' : '' },
      }),
    );
  });
  // the same key twice, with the same and with another value
  out.push(newSpan({ traceId: trace(200), spanId: spanOf(200), attributes: [{ key: 'd', value: 'v' }, { key: 'd', value: 'v' }, { key: 'd', value: 'w' }] }));
  return out;
}

function batch(): ResourceSpans[] {
  const all = spans();
  return [
    {
      resource: {
        attributes: [
          { key: 'service.name', value: 'svc "quoted"' },
          { key: 'shared', value: 'from-resource' },
          { key: 'host', value: long },
        ],
        droppedAttributesCount: 3,
      },
      schemaUrl: 'https://opentelemetry.io/schemas/1.21.0',
      scopeSpans: [
        { scope: { name: 'lib', version: '1.0', attributes: [{ key: 'scope.attr', value: 7n }], droppedAttributesCount: 1 }, schemaUrl: 'scope-url', spans: all.slice(0, 15) },
        { scope: { name: '', version: '', attributes: [], droppedAttributesCount: 0 }, schemaUrl: '', spans: all.slice(15) },
      ],
    },
    { resource: { attributes: [], droppedAttributesCount: 0 }, schemaUrl: '', scopeSpans: [{ scope: { name: 'n', version: '', attributes: [], droppedAttributesCount: 0 }, schemaUrl: '', spans: spans().slice(0, 4) }] },
  ];
}

const ACTION = '{"index":{"_index":"i","_id":"';

/** The documents of a batch written as the writer writes them: one body, one ScopeDocParts per batch scope. */
function encodeAll(traces: ResourceSpans[], capacity = 64): { docId: string; json: string }[] {
  const body = new BulkBody(capacity);
  for (const rs of traces) {
    const service = typeof rs.resource.attributes[0]?.value === 'string' && rs.resource.attributes[0].key === 'service.name' ? rs.resource.attributes[0].value : '';
    for (const ss of rs.scopeSpans) {
      const parts = new ScopeDocParts(rs.resource, rs.schemaUrl, ss.scope, ss.schemaUrl, service);
      for (const s of ss.spans) writeDoc(body, ACTION, parts, s);
    }
  }
  const lines = body.buf.toString('utf8', 0, body.at).split('\n');
  expect(lines.pop()).toBe('');
  expect(lines).toHaveLength(body.ends.length * 2);
  const out: { docId: string; json: string }[] = [];
  for (let i = 0; i < lines.length; i += 2) {
    const docId = (JSON.parse(lines[i]!) as { index: { _id: string } }).index._id;
    out.push({ docId, json: lines[i + 1]! });
    expect(body.slice(i / 2, i / 2 + 1).toString()).toBe(`${lines[i]}\n${lines[i + 1]}\n`);
  }
  return out;
}

describe('span documents', () => {
  test('equal JSON.stringify of the documented layout, with the same document IDs', () => {
    const traces = batch();
    validateBatch(traces);
    const views = spanViews(traces);
    // a body that starts small grows as documents are written
    const docs = encodeAll(traces, 16);
    expect(docs).toHaveLength(views.length);
    views.forEach((st, i) => {
      const want = refDoc(st);
      expect(docs[i]!.docId).toBe(want.docId);
      expect(normalized(docs[i]!.json)).toEqual(normalized(want.json));
      // the record is the same text (the document ID hashes it), and so is everything before `match`
      expect(docs[i]!.json.slice(docs[i]!.json.indexOf(',"record":'))).toBe(want.json.slice(want.json.indexOf(',"record":')));
      expect(docs[i]!.json.slice(0, docs[i]!.json.indexOf('"match"'))).toBe(want.json.slice(0, want.json.indexOf('"match"')));
      // one term per (key, value)
      const match = (JSON.parse(docs[i]!.json) as { match: string[] }).match;
      expect(new Set(match).size).toBe(match.length);
      expect(toDoc(st)).toMatchObject(docs[i]!);
    });
  });

  test('spans decoded lazily from OTLP protobuf give the documents of the same spans decoded whole', () => {
    const bytes = encodeTracesProto(batch());
    const lazy = decodeTracesProto(bytes, { lazy: true }).traces;
    const whole = decodeTracesProto(bytes).traces;
    validateBatch(lazy);
    const got = encodeAll(lazy);
    expect(got).toEqual(encodeAll(whole));
    const want = spanViews(whole).map(refDoc);
    expect(got.map((d) => d.docId)).toEqual(want.map((d) => d.docId));
    expect(got.map((d) => normalized(d.json))).toEqual(want.map((d) => normalized(d.json)));
  });

  test('keys with many values, and values seen again, are encoded alike', () => {
    const many = Array.from({ length: 300 }, (_, i) =>
      newSpan({
        traceId: trace(i + 1),
        spanId: spanOf(i),
        attributes: [
          { key: 'n', value: BigInt(i) },
          { key: 'few', value: i % 3 ? 'a' : true },
          { key: 'shared', value: i % 2 ? 'from-resource' : 'other' },
          { key: 'text', value: `${'t'.repeat(i % 80)}"${i % 5}` },
        ],
      }),
    );
    const traces: ResourceSpans[] = [{ resource: { attributes: [{ key: 'shared', value: 'from-resource' }], droppedAttributesCount: 0 }, schemaUrl: '', scopeSpans: [{ scope: { name: 's', version: '', attributes: [], droppedAttributesCount: 0 }, schemaUrl: '', spans: many }] }];
    // twice: the second time from what the first one cached
    for (let round = 0; round < 2; round++) {
      const got = encodeAll(traces);
      spanViews(traces).forEach((st, i) => {
        const want = refDoc(st);
        expect(got[i]!.docId).toBe(want.docId);
        expect(normalized(got[i]!.json)).toEqual(normalized(want.json));
      });
    }
  });

  test('the document ID of a span stays what earlier versions wrote', () => {
    const span = newSpan({
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      name: 'GET /items',
      kind: SpanKind.Server,
      startTimeUnixNano: 1_700_000_000_000_000_000n,
      endTimeUnixNano: 1_700_000_000_250_000_000n,
      attributes: [{ key: 'http.response.status_code', value: 200n }],
    });
    const resource = { attributes: [{ key: 'service.name', value: 'frontend' }], droppedAttributesCount: 0 };
    const scope = { name: 'lib', version: '1', attributes: [], droppedAttributesCount: 0 };
    const doc = toDoc({ span, resource, resourceSchemaUrl: '', scope, scopeSchemaUrl: '', service: 'frontend' });
    expect(doc.docId).toBe('0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-WUKTHfGvnluzPDvO');
  });

  test('records read back as the spans written', () => {
    const traces = batch();
    const views = spanViews(traces);
    const decoder = new RecordDecoder();
    encodeAll(traces).forEach((d, i) => {
      const got = decoder.decode(JSON.parse(d.json) as Parameters<RecordDecoder['decode']>[0]);
      // as JSON: -0 reads back as 0, in these documents as in any JSON
      expect(JSON.stringify(encodeSpan(got.span))).toBe(JSON.stringify(encodeSpan(views[i]!.span)));
      expect(got.resource).toEqual(views[i]!.resource);
      expect(got.scope).toEqual(views[i]!.scope);
    });
  });

  test('a query term finds the term a document has', () => {
    const [doc] = encodeAll([{ resource: { attributes: [{ key: 'service.name', value: 's' }], droppedAttributesCount: 0 }, schemaUrl: '', scopeSpans: [{ scope: { name: 'n', version: 'v', attributes: [], droppedAttributesCount: 0 }, schemaUrl: '', spans: [newSpan({ traceId: trace(1), spanId: spanOf(1), kind: SpanKind.Client, attributes: [{ key: 'q"k', value: 'v\n' }, { key: 'big', value: long }] })] }] }]);
    const match = (JSON.parse(doc!.json) as { match: string[] }).match;
    for (const [k, v] of [['q"k', 'v\n'], ['big', long], ['resource.service.name', 's'], ['scope.name', 'n'], ['error', 'false'], ['span.kind', 'client'], ['span.status', 'unset']] as const) {
      expect(match).toContain(queryTerm(k, v));
    }
  });
});

describe('bulk bodies', () => {
  test('are the operations in UTF-8, each line ended by a newline, whatever their characters', () => {
    const cases: string[][] = [[], ['{}'], ['{"a":"é"}', '{"b":"漢字漢字漢字"}', '{"c":"😀😀"}', 'x'.repeat(10_000)], Array.from({ length: 50 }, (_, i) => '漢'.repeat(i * 37))];
    for (const ops of cases) {
      const body = new BulkBody(8);
      for (const o of ops) body.op(o);
      expect(body.buf.subarray(0, body.at).equals(Buffer.from(ops.map((l) => `${l}\n`).join('')))).toBe(true);
      ops.forEach((o, i) => expect(body.slice(i, i + 1).toString()).toBe(`${o}\n`));
      if (ops.length) expect(body.slice(0, ops.length).length).toBe(body.at);
    }
  });
});
