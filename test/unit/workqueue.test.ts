import { RateLimiter, WorkQueue } from '../../src/kube/workqueue.js';

describe('WorkQueue', () => {
  it('coalesces adds of a waiting key', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('a');
    q.add('b');
    expect(q.length).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
  });

  it('never hands one key to two workers; a re-add during processing runs once after done', async () => {
    const q = new WorkQueue();
    q.add('a');
    const k = await q.get();
    q.add('a');
    q.add('a');
    expect(q.length).toBe(0); // held back while in flight
    const second = q.get();
    let got: string | undefined;
    void second.then((v) => (got = v));
    await new Promise((r) => setImmediate(r));
    expect(got).toBeUndefined();
    q.done(k!);
    expect(await second).toBe('a');
    q.done('a');
    expect(q.length).toBe(0);
  });

  it('runs many workers without overlap on any key', async () => {
    const q = new WorkQueue();
    const active = new Set<string>();
    let overlaps = 0;
    let processed = 0;
    const worker = async () => {
      for (;;) {
        const k = await q.get();
        if (k === undefined) return;
        if (active.has(k)) overlaps++;
        active.add(k);
        await new Promise((r) => setTimeout(r, Math.random() * 3));
        active.delete(k);
        processed++;
        q.done(k);
      }
    };
    const workers = Array.from({ length: 8 }, worker);
    for (let i = 0; i < 500; i++) q.add(`k${i % 7}`);
    await new Promise((r) => setTimeout(r, 200));
    q.shutdown();
    await Promise.all(workers);
    expect(overlaps).toBe(0);
    expect(processed).toBeGreaterThanOrEqual(7);
    expect(processed).toBeLessThan(500); // coalesced
  });

  it('keeps the earliest deadline for delayed adds', async () => {
    const q = new WorkQueue();
    q.addAfter('a', 10_000);
    q.addAfter('a', 20);
    expect(q.pendingDelayed).toBe(1);
    const t0 = Date.now();
    expect(await q.get()).toBe('a');
    expect(Date.now() - t0).toBeLessThan(5_000);
    q.shutdown();
  });
});

describe('RateLimiter', () => {
  it('backs off exponentially per key and resets on forget', () => {
    const r = new RateLimiter({ baseDelayMs: 5, maxDelayMs: 1000, qps: 1e6, burst: 1e6 });
    expect([r.when('a'), r.when('a'), r.when('a'), r.when('a')]).toEqual([5, 10, 20, 40]);
    expect(r.when('b')).toBe(5);
    for (let i = 0; i < 20; i++) r.when('a');
    expect(r.when('a')).toBe(1000);
    r.forget('a');
    expect(r.when('a')).toBe(5);
  });
  it('applies the global token bucket across keys', () => {
    const r = new RateLimiter({ baseDelayMs: 1, maxDelayMs: 1000, qps: 10, burst: 2 });
    r.when('a');
    r.when('b');
    expect(r.when('c')).toBeGreaterThanOrEqual(90); // third retry waits for a token (100 ms at 10 qps)
  });
});
