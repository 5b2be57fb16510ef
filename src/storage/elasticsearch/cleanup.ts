// Drops everything one store keeps in an Elasticsearch/OpenSearch cluster, by its index prefix: the data stream,
// the indices (with their aliases), the index templates and the lifecycle policy, whatever layout made them.
// Idempotent: what is already gone is skipped. Indices are listed and deleted by name (Elasticsearch refuses
// wildcard deletes by default) and matched exactly, so another prefix's indices are never touched.
import { SearchClient } from './client.js';
import { type SearchConfig } from './config.js';
import type { SearchCredentials } from './check.js';
import { Names } from './layout.js';
import { policyName } from './provision.js';

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** indices deleted per request (keeps the URL short) */
const BATCH = 20;

/** Whether `index` belongs to the store with these names: daily (-YYYY-MM-DD) and rollover (-000001) indices, sampling, meta. */
export function ownedIndex(n: Names, index: string): boolean {
  if (index === n.sampling || index === n.meta) return true;
  const bases = [n.spanBase, n.serviceBase, n.dependenciesBase].map(escape).join('|');
  return new RegExp(`^(${bases})-(\\d{4}-\\d{2}-\\d{2}|\\d{6,})$`).test(index);
}

export async function cleanupSearch(config: SearchConfig, secret: SearchCredentials, signal?: AbortSignal): Promise<string[]> {
  const client = new SearchClient({
    endpoints: config.endpoints,
    ...(secret.username !== undefined ? { username: secret.username, password: secret.password ?? '' } : {}),
    ...(secret.ca ? { ca: secret.ca } : {}),
    insecureSkipVerify: config.tls?.insecureSkipVerify ?? false,
    requestTimeoutMs: 10_000,
  });
  const n = new Names(config.indexPrefix ?? '', 'daily');
  const deleted: string[] = [];
  try {
    signal?.throwIfAborted();
    const server = await client.connect();
    // the data stream first: its backing indices go with it, and its template cannot be deleted while it exists
    const ds = await client.request('DELETE', `/_data_stream/${n.stream}`, { ignore: [400, 404], ...(signal ? { signal } : {}) });
    if (ds.status < 300) deleted.push(n.stream);

    const listed = await client.request<{ index?: string }[]>('GET', `/_cat/indices/${n.p}jaeger-*`, { query: { format: 'json', h: 'index', expand_wildcards: 'all' }, ignore: [404], ...(signal ? { signal } : {}) });
    const indices = (Array.isArray(listed.body) ? listed.body : []).map((r) => r.index ?? '').filter((i) => ownedIndex(n, i)).sort();
    for (let i = 0; i < indices.length; i += BATCH) {
      const batch = indices.slice(i, i + BATCH);
      await client.request('DELETE', `/${batch.join(',')}`, { query: { ignore_unavailable: true }, ignore: [404], ...(signal ? { signal } : {}) });
      deleted.push(...batch);
    }

    for (const name of [n.spanBase, n.serviceBase, n.dependenciesBase, `${n.p}jaeger-spans-stream`]) {
      for (const kind of ['_index_template', '_template']) {
        const r = await client.request('DELETE', `/${kind}/${name}`, { ignore: [400, 404, 405], ...(signal ? { signal } : {}) });
        if (r.status < 300) deleted.push(`${kind}/${name}`);
      }
    }

    // policies last: Elasticsearch refuses to delete an ILM policy that indices still use
    const policy = server.distribution === 'elasticsearch' ? `/_ilm/policy/${policyName(n)}` : `/_plugins/_ism/policies/${policyName(n)}`;
    const r = await client.request('DELETE', policy, { ignore: [400, 404, 405], ...(signal ? { signal } : {}) });
    if (r.status < 300) deleted.push(policy);
    return deleted;
  } finally {
    await client.close();
  }
}
