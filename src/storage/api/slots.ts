// A counting semaphore for the backends' bounds on requests in flight.

/**
 * A counting semaphore: at most `n` holders, waiters served first come, first served. A writer queues tens of
 * thousands of statements at once: waiters are taken from a head index (Array.shift would move them all each time)
 * and the array is compacted once its taken half is large.
 */
export class Slots {
  private free: number;
  private waiting: (() => void)[] = [];
  private head = 0;
  constructor(n: number) {
    this.free = n;
  }
  async take(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((r) => this.waiting.push(r));
  }
  give(): void {
    if (this.head === this.waiting.length) {
      this.free++;
      return;
    }
    const next = this.waiting[this.head++]!;
    if (this.head === this.waiting.length) {
      this.waiting = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.waiting.length) {
      this.waiting = this.waiting.slice(this.head);
      this.head = 0;
    }
    next();
  }
}
