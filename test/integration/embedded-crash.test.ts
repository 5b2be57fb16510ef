// The embedded store survives kill -9 during writes: every batch it acknowledged is there, whole, after reopening,
// and the batch in flight is either entirely there or entirely absent.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedBackend } from '../../src/storage/embedded/store.js';
import { SPANS_PER_TRACE, crashTraceId } from '../env/embedded-writer.js';
import { ROOT, waitFor } from '../helpers.js';

async function spansOf(store: EmbeddedBackend, traceId: string): Promise<number> {
  let n = 0;
  for await (const batch of store.traceReader().getTraces([{ traceId }])) for (const c of batch) for (const rs of c.resourceSpans) for (const ss of rs.scopeSpans) n += ss.spans.length;
  return n;
}

it('keeps every acknowledged batch across kill -9 and reopens', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'jso-crash-'));
  try {
    for (let round = 0; round < 3; round++) {
      const first = round * 1_000_000; // each round writes new traces
      const proc = spawn(process.execPath, [join(ROOT, 'dist/test/env/embedded-writer.js'), dir, String(first)], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
      proc.stderr.on('data', (c: Buffer) => (err += c.toString()));
      const exited = new Promise<void>((r) => proc.on('exit', () => r()));
      const target = 100 + round * 37;
      await waitFor(`${target} acknowledged batches`, async () => (err ? Promise.reject(new Error(err)) : out.split('\n').filter((l) => l.startsWith('ack ')).length >= target), 60_000, 5);
      proc.kill('SIGKILL'); // mid-stream: the writer never pauses
      await exited;

      const acked = out.split('\n').filter((l) => l.startsWith('ack ')).map((l) => l.slice(4));
      const t0 = performance.now();
      const store = new EmbeddedBackend({ path: dir });
      const reopenMs = performance.now() - t0;
      try {
        for (const id of acked) expect(await spansOf(store, id)).toBe(SPANS_PER_TRACE);
        // the batch that was in flight: all or nothing
        expect([0, SPANS_PER_TRACE]).toContain(await spansOf(store, crashTraceId(first + acked.length)));
        process.stderr.write(`crash round ${round}: ${acked.length} acknowledged batches intact, reopened in ${reopenMs.toFixed(1)} ms\n`);
      } finally {
        await store.close();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 180_000);
