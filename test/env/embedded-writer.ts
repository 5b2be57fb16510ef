// Writes traces of 50 spans into an embedded store as fast as it can, printing `ack <traceId>` after each
// committed batch. The crash test kills it with SIGKILL mid-stream.
import { EmbeddedBackend } from '../../src/storage/embedded/store.js';
import { type ResourceSpans, type Span, SpanKind, StatusCode, newSpan, serviceBatch } from '../../src/storage/api/model.js';

export const SPANS_PER_TRACE = 50;
export const crashTraceId = (i: number): string => `c0a5${i.toString(16).padStart(28, '0')}`;

export function crashBatch(i: number, now: bigint): ResourceSpans[] {
  const spans: Span[] = [];
  for (let j = 0; j < SPANS_PER_TRACE; j++) {
    spans.push(
      newSpan({
        traceId: crashTraceId(i),
        spanId: (j + 1).toString(16).padStart(16, '0'),
        parentSpanId: j ? '0000000000000001' : '',
        name: `op-${j % 5}`,
        kind: j ? SpanKind.Internal : SpanKind.Server,
        startTimeUnixNano: now + BigInt(j) * 1000n,
        endTimeUnixNano: now + BigInt(j) * 1000n + 500n,
        attributes: [{ key: 'batch', value: BigInt(i) }, { key: 'payload', value: 'x'.repeat(200) }],
        status: { code: StatusCode.Ok, message: '' },
      }),
    );
  }
  return [serviceBatch('crash-writer', spans, { name: 'w' })];
}

async function main(): Promise<void> {
  const path = process.argv[2];
  if (!path) throw new Error('usage: embedded-writer <dir> [first-trace-number]');
  const first = Number(process.argv[3] ?? 0);
  const store = new EmbeddedBackend({ path });
  const now = BigInt(Date.now()) * 1_000_000n;
  for (let i = first; i < first + 1_000_000; i++) {
    await store.traceWriter().writeTraces(crashBatch(i, now));
    process.stdout.write(`ack ${crashTraceId(i)}\n`);
  }
}

if (process.argv[1]?.endsWith('embedded-writer.js')) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
