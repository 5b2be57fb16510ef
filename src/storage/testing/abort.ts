// Cancellation cases every backend runs: a StorageContext signal that aborts stops a getTraces / findTraces
// iteration before its next chunk, and the iteration rejects with the signal's reason (no partial answer that
// looks complete). The backend must be opened with chunks of ABORT_CHUNK_SPANS spans.
//
//   runAbortCases('memory', async () => ({ backend: new MemoryBackend({ maxTraces: 1000, maxSpansPerChunk: ABORT_CHUNK_SPANS }) }));
import { type BackendFactory, type Span, type TraceChunk, newSpan, serviceBatch } from '../api/index.js';
import type { ContractSubject } from './contract.js';

/** spans per chunk the backend under test must use */
export const ABORT_CHUNK_SPANS = 5;
/** spans of the big trace: this many chunks */
const BIG_SPANS = 40;
const SMALL_TRACES = 10;
const SERVICE = 'abort-cases';
const BIG_TRACE = 'ab0e7000000000000000000000000001';
const smallTrace = (i: number): string => `ab0e7100${(i + 1).toString(16).padStart(24, '0')}`;

class Gone extends Error {
  constructor() {
    super('the caller went away');
    this.name = 'Gone';
  }
}

/** The chunks pulled from `iter`, aborting `ac` once `abortAfter` chunks came; and what the iteration threw. */
async function pull(iter: AsyncIterable<TraceChunk[]>, ac: AbortController | undefined, abortAfter: number): Promise<{ chunks: number; error: unknown }> {
  let chunks = 0;
  try {
    for await (const batch of iter) {
      chunks += batch.length;
      if (ac && chunks >= abortAfter) ac.abort(new Gone());
    }
  } catch (error) {
    return { chunks, error };
  }
  return { chunks, error: undefined };
}

export function runAbortCases(name: string, open: () => Promise<ContractSubject>): void {
  describe(`cancellation: ${name}`, () => {
    let subject: ContractSubject;
    let b: BackendFactory;
    const search = { serviceName: SERVICE, searchDepth: 100 };

    beforeAll(async () => {
      subject = await open();
      b = subject.backend;
      await b.provision();
      const now = BigInt(Date.now() - 60_000) * 1_000_000n;
      const span = (traceId: string, i: number, name: string): Span =>
        newSpan({ traceId, spanId: (i + 1).toString(16).padStart(16, '0'), name, startTimeUnixNano: now + BigInt(i) * 1000n, endTimeUnixNano: now + BigInt(i) * 1000n + 500n });
      await b.traceWriter().writeTraces([serviceBatch(SERVICE, Array.from({ length: BIG_SPANS }, (_, i) => span(BIG_TRACE, i, 'big')))]);
      await b.traceWriter().writeTraces([serviceBatch(SERVICE, Array.from({ length: SMALL_TRACES }, (_, i) => span(smallTrace(i), i, 'small')))]);
      await subject.refresh?.();
    }, 300_000);

    afterAll(async () => {
      await b?.close();
      await subject?.close?.();
    });

    it('reads every chunk when the signal does not abort', async () => {
      const ac = new AbortController();
      expect(await pull(b.traceReader().getTraces([{ traceId: BIG_TRACE }], { signal: ac.signal }), undefined, 0)).toEqual({ chunks: BIG_SPANS / ABORT_CHUNK_SPANS, error: undefined });
      expect(await pull(b.traceReader().findTraces({ ...search, operationName: 'small' }, { signal: ac.signal }), undefined, 0)).toEqual({ chunks: SMALL_TRACES, error: undefined });
    });

    it('stops getTraces at the next chunk once the signal aborts, rejecting with its reason', async () => {
      const r = await pull(b.traceReader().getTraces([{ traceId: BIG_TRACE }, ...Array.from({ length: SMALL_TRACES }, (_, i) => ({ traceId: smallTrace(i) }))], { signal: new AbortController().signal }), undefined, 0);
      expect(r.chunks).toBe(BIG_SPANS / ABORT_CHUNK_SPANS + SMALL_TRACES);
      const ac = new AbortController();
      const cut = await pull(b.traceReader().getTraces([{ traceId: BIG_TRACE }], { signal: ac.signal }), ac, 2);
      expect(cut.chunks).toBe(2);
      expect(cut.error).toBeInstanceOf(Gone);
    });

    it('stops findTraces between traces once the signal aborts', async () => {
      const ac = new AbortController();
      const cut = await pull(b.traceReader().findTraces({ ...search, operationName: 'small' }, { signal: ac.signal }), ac, 1);
      expect(cut.chunks).toBe(1);
      expect(cut.error).toBeInstanceOf(Gone);
    });

    it('answers nothing to a search whose signal already aborted', async () => {
      const ac = new AbortController();
      ac.abort(new Gone());
      const ids: unknown[] = [];
      await expect(
        (async () => {
          for await (const x of b.traceReader().findTraceIds(search, { signal: ac.signal })) ids.push(...x);
        })(),
      ).rejects.toBeInstanceOf(Gone);
      expect(ids).toEqual([]);
      expect(await pull(b.traceReader().findTraces(search, { signal: ac.signal }), undefined, 0)).toEqual({ chunks: 0, error: expect.any(Gone) });
    });
  });
}

/**
 * A networked backend: a request already on its way when the signal aborts is answered at once with the signal's
 * reason (getServices, and a search), and the backend stays usable for the next request.
 */
export function runInFlightAbortCase(name: string, open: () => Promise<ContractSubject>): void {
  describe(`cancellation of requests in flight: ${name}`, () => {
    let subject: ContractSubject;
    beforeAll(async () => {
      subject = await open();
      await subject.backend.provision();
    }, 120_000);
    afterAll(async () => {
      await subject?.backend.close();
      await subject?.close?.();
    });

    it("answers a request in flight with the signal's reason when it aborts, and stays usable", async () => {
      const reader = subject.backend.traceReader();
      expect(await reader.getServices({ signal: new AbortController().signal })).toEqual([]);
      const reason = new Error('the caller went away');
      const ac = new AbortController();
      // the request is on its way when the signal aborts (nothing is awaited in between)
      const services = reader.getServices({ signal: ac.signal });
      ac.abort(reason);
      await expect(services).rejects.toBe(reason);
      const ids = (async () => {
        for await (const _ of reader.findTraceIds({ serviceName: 'x', searchDepth: 10 }, { signal: ac.signal })) void _;
      })();
      await expect(ids).rejects.toBe(reason);
      expect(await reader.getServices()).toEqual([]);
    });
  });
}
