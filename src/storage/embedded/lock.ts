// The embedded backend's lease lock: one record per resource under 'l', read and written in one transaction.
import { InvalidArgumentError, type Lock } from '../api/index.js';
import type { EmbeddedDb } from './db.js';
import { key, lstr, tag } from './keys.js';

interface Lease {
  holder: string;
  expires: number;
}

export class EmbeddedLock implements Lock {
  constructor(private readonly db: EmbeddedDb) {}

  async acquire(resource: string, holder: string, ttlMs: number): Promise<boolean> {
    if (!holder) throw new InvalidArgumentError('holder', 'must not be empty');
    if (!(ttlMs > 0)) throw new InvalidArgumentError('ttlMs', `must be positive (got ${ttlMs})`);
    const k = key(tag('l'), lstr(resource));
    const meta = this.db.meta;
    return this.db.root.transactionSync(() => {
      const now = Date.now();
      const raw = meta.get(k);
      const cur = raw ? (JSON.parse(raw.toString()) as Lease) : undefined;
      if (cur && cur.holder !== holder && cur.expires > now) return false;
      meta.putSync(k, Buffer.from(JSON.stringify({ holder, expires: now + ttlMs })));
      return true;
    });
  }

  async forfeit(resource: string, holder: string): Promise<boolean> {
    const k = key(tag('l'), lstr(resource));
    const meta = this.db.meta;
    return this.db.root.transactionSync(() => {
      const raw = meta.get(k);
      const cur = raw ? (JSON.parse(raw.toString()) as Lease) : undefined;
      if (!cur || cur.holder !== holder || cur.expires <= Date.now()) return false;
      meta.removeSync(k);
      return true;
    });
  }
}
