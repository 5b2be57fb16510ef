// Bytes of OTLP requests held in memory at once, across every receiver: a body being read, decompressed,
// decoded or waiting for its spans to be committed. Beyond the bound, new requests are refused with 429 /
// RESOURCE_EXHAUSTED instead of growing the heap until the process falls over.
export class ByteBudget {
  private used = 0;

  constructor(readonly limit: number) {}

  get inUse(): number {
    return this.used;
  }

  /** Takes `n` bytes if they fit (a first request always fits, so no size is refused forever). */
  tryTake(n: number): boolean {
    if (this.used > 0 && this.used + n > this.limit) return false;
    this.used += n;
    return true;
  }

  /** what a refused client is told */
  refusal(): string {
    return `too many request bytes in flight (${this.used} of ${this.limit}): retry later`;
  }

  give(n: number): void {
    this.used = Math.max(0, this.used - n);
  }
}
