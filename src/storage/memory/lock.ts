// The memory backend's lease lock (one process: a map of holders with expiry times) and its purger.
import { InvalidArgumentError, type Lock, type Purger } from '../api/index.js';
import type { MemoryState } from './state.js';

export class MemoryLock implements Lock {
  constructor(private readonly state: MemoryState) {}

  async acquire(resource: string, holder: string, ttlMs: number): Promise<boolean> {
    if (!holder) throw new InvalidArgumentError('holder', 'must not be empty');
    if (!(ttlMs > 0)) throw new InvalidArgumentError('ttlMs', `must be positive (got ${ttlMs})`);
    const now = Date.now();
    const cur = this.state.locks.get(resource);
    if (cur && cur.holder !== holder && cur.expires > now) return false;
    this.state.locks.set(resource, { holder, expires: now + ttlMs });
    return true;
  }

  async forfeit(resource: string, holder: string): Promise<boolean> {
    const cur = this.state.locks.get(resource);
    if (!cur || cur.holder !== holder || cur.expires <= Date.now()) return false;
    this.state.locks.delete(resource);
    return true;
  }
}

export class MemoryPurger implements Purger {
  constructor(private readonly state: MemoryState) {}

  async purge(): Promise<void> {
    this.state.clear();
  }
}
