// Numbers for what span records and index keys name again and again (attribute keys and service names, resources,
// scopes): each is stored once in meta under its number, and records and keys carry the number. A number is handed
// out once and shared by every batch that needs it before the batch that took it commits; each of those batches
// writes the entry itself, so it is stored whichever of them commits first. A pending number is released once
// every batch that uses it failed: one thing never gets two numbers, and failed batches leave nothing behind.
export class Numbering {
  private readonly committed = new Map<string, number>();
  private readonly pending = new Map<string, number>();
  /** per pending number, the batches in flight that use it */
  private readonly users = new Map<string, number>();
  private next = 0;

  /**
   * `maxKnown` bounds the stored numbers kept in memory (a larger set is forgotten whole): only for things whose
   * numbers the caller can look up in the store again.
   */
  constructor(private readonly maxKnown = Infinity) {}

  /** The number of `s`, committed or pending. */
  get(s: string): number | undefined {
    return this.committed.get(s) ?? this.pending.get(s);
  }

  /** Whether the number of `s` is stored: a batch using a pending one writes its entry too. */
  isCommitted(s: string): boolean {
    return this.committed.has(s);
  }

  /** The number of `s`, handing out a new, pending one if it has none. */
  take(s: string): number {
    let n = this.get(s);
    if (n === undefined) this.pending.set(s, (n = this.next++));
    return n;
  }

  /** Records that a batch in flight uses the pending number of `s` (and writes its entry). */
  use(s: string): void {
    if (this.pending.has(s)) this.users.set(s, (this.users.get(s) ?? 0) + 1);
  }

  /** Records that a batch that used the pending number `n` of `s` failed; the last one to fail releases it. */
  release(s: string, n: number): void {
    if (this.pending.get(s) !== n) return;
    const left = (this.users.get(s) ?? 1) - 1;
    if (left > 0) this.users.set(s, left);
    else {
      this.pending.delete(s);
      this.users.delete(s);
    }
  }

  /** Records that `s` is stored under `n` (committed, or read from the store). */
  learn(s: string, n: number): void {
    if (!this.committed.has(s)) {
      if (this.committed.size >= this.maxKnown) this.committed.clear();
      this.committed.set(s, n);
    }
    if (this.pending.get(s) === n) {
      this.pending.delete(s);
      this.users.delete(s);
    }
    this.reserve(n);
  }

  /** Never hands out `n` or a smaller number (they are in the store). */
  reserve(n: number): void {
    if (n >= this.next) this.next = n + 1;
  }

  /** How many things have numbers, committed or pending. */
  get size(): number {
    return this.committed.size + this.pending.size;
  }

  /** How many things have stored numbers: only grows (until the store is cleared), whatever batches fail. */
  get committedSize(): number {
    return this.committed.size;
  }

  /** Forgets what is stored (after the store was cleared); pending numbers stay, their batches may still commit. */
  forget(): void {
    this.committed.clear();
  }
}
