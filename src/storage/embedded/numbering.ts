// Numbers for what span records and index keys name again and again (attribute keys and service names, resources,
// scopes): each is stored once in meta under its number, and records and keys carry the number. A number is handed
// out once and shared by every batch that needs it before the batch that took it commits; each of those batches
// writes the entry itself, so it is stored whichever of them commits first, and a failed commit leaves the number
// pending for the next batch rather than giving one thing two numbers.
export class Numbering {
  private readonly committed = new Map<string, number>();
  private readonly pending = new Map<string, number>();
  private next = 0;

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

  /** Records that `s` is stored under `n` (committed, or read from the store). */
  learn(s: string, n: number): void {
    if (!this.committed.has(s)) this.committed.set(s, n);
    if (this.pending.get(s) === n) this.pending.delete(s);
    this.reserve(n);
  }

  /** Never hands out `n` or a smaller number (they are in the store). */
  reserve(n: number): void {
    if (n >= this.next) this.next = n + 1;
  }

  /** How many things have numbers. */
  get size(): number {
    return this.committed.size + this.pending.size;
  }

  /** Forgets what is stored (after the store was cleared); pending numbers stay, their batches may still commit. */
  forget(): void {
    this.committed.clear();
  }
}
