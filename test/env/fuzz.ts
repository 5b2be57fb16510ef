// Helpers of the fuzz and chaos tests: mulberry32, a small seeded PRNG, so a failing run repeats from its printed
// seed (no Math.random in those tests), and a bounded pool that runs generated cases a few at a time.
export class Rng {
  constructor(private s: number) {}
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
}

/**
 * Runs jobs 0..n-1 with `concurrency` in flight, starting none after `deadline` (ms since the epoch); how many ran.
 * With `atLeast`, a slow machine still runs that many (the deadline then gives way, up to `hardDeadline`), so a
 * check on the number of cases does not depend on how loaded the machine is.
 */
export async function pool(n: number, concurrency: number, deadline: number, job: (i: number) => Promise<void>, o: { atLeast?: number; hardDeadline?: number } = {}): Promise<number> {
  let next = 0;
  let ran = 0;
  const atLeast = o.atLeast ?? 0;
  const hard = o.hardDeadline ?? deadline;
  const more = (i: number): boolean => i < n && (Date.now() < deadline || (i < atLeast && Date.now() < hard));
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; more(i); i = next++) {
        await job(i);
        ran++;
      }
    }),
  );
  return ran;
}
