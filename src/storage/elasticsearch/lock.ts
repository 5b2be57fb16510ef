// The Elasticsearch / OpenSearch lease lock: one document per resource in <p>jaeger-sampling, taken with
// op_type=create and renewed or released with optimistic concurrency (if_seq_no / if_primary_term), so two
// contenders never both win.
import { StorageError } from '../api/errors.js';
import type { Lock } from '../api/index.js';
import type { SearchConnection } from './connection.js';
import { lockPath } from './queries.js';

interface LockDoc {
  found?: boolean;
  _seq_no?: number;
  _primary_term?: number;
  _source?: { holder: string; expiresMillis: number };
}

export class SearchLock implements Lock {
  constructor(private readonly conn: SearchConnection) {}

  async acquire(resource: string, holder: string, ttlMs: number): Promise<boolean> {
    if (!holder) throw new StorageError('InvalidArgument', 'holder: must not be empty');
    if (!(ttlMs > 0)) throw new StorageError('InvalidArgument', `ttlMs: must be positive (got ${ttlMs})`);
    const client = this.conn.client;
    const path = lockPath(this.conn.names, resource);
    const body = { kind: 'lock', holder, expiresMillis: Date.now() + ttlMs };
    const cur = await client.request<LockDoc>('GET', path, { ignore: [404] });
    if (cur.status === 404 || !cur.body.found) {
      const r = await client.request('PUT', path, { body, query: { op_type: 'create' }, ignore: [409] });
      return r.status < 300;
    }
    const s = cur.body._source!;
    if (s.holder !== holder && s.expiresMillis > Date.now()) return false;
    const r = await client.request('PUT', path, { body, query: { if_seq_no: cur.body._seq_no!, if_primary_term: cur.body._primary_term! }, ignore: [409] });
    return r.status < 300;
  }

  async forfeit(resource: string, holder: string): Promise<boolean> {
    const client = this.conn.client;
    const path = lockPath(this.conn.names, resource);
    const cur = await client.request<LockDoc>('GET', path, { ignore: [404] });
    if (cur.status === 404 || !cur.body.found || cur.body._source?.holder !== holder) return false;
    const r = await client.request('DELETE', path, { query: { if_seq_no: cur.body._seq_no!, if_primary_term: cur.body._primary_term! }, ignore: [404, 409] });
    return r.status < 300;
  }
}
