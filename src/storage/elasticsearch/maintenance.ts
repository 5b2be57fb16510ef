// Housekeeping of the Elasticsearch / OpenSearch backend: purge (tests and deletion policy), rollover and
// retention where no server policy does them, and refresh (tests).
import type { Purger } from '../api/index.js';
import type { SearchConnection } from './connection.js';
import { parseDurationMs } from './layout.js';
import { type ProvisionResult, provision } from './provision.js';
import { READ_OPTS } from './queries.js';

export class SearchPurger implements Purger {
  /** `forget`: called once the data is gone, so writers drop what they remember of it */
  constructor(
    private readonly conn: SearchConnection,
    private readonly forget: () => void,
  ) {}

  /** Deletes every index and data stream of this prefix, then provisions them again (empty). */
  async purge(): Promise<void> {
    const { client, names: n, cfg } = this.conn;
    if (n.layout === 'dataStream') await client.request('DELETE', `/_data_stream/${n.stream}`, { ignore: [404] });
    // patterns only: a _cat request naming the data stream just deleted does not answer
    const rows = (await client.request<{ index: string }[]>('GET', `/_cat/indices/${n.p}jaeger-*`, { query: { format: 'json', h: 'index', ...READ_OPTS } })).body;
    const names = (Array.isArray(rows) ? rows : []).map((r) => r.index).filter((i) => i !== n.meta);
    // by name: Elasticsearch 8+ refuses wildcard deletes
    for (let i = 0; i < names.length; i += 50) await client.request('DELETE', `/${names.slice(i, i + 50).join(',')}`, { query: READ_OPTS });
    this.forget();
    await provision(client, n, cfg);
  }
}

/**
 * Rollover and retention when no server policy does them (daily layout; OpenSearch without the ISM plugin):
 * rolls the write targets over once `rolloverMaxAge` has passed, and deletes indices older than `retention`
 * (never a write index). Returns what it did. Called periodically by the runtime.
 */
export async function maintainIndices(conn: SearchConnection, lifecycle: ProvisionResult['lifecycle'], now = Date.now()): Promise<string[]> {
  const { client, names: n, cfg } = conn;
  const done: string[] = [];
  if (lifecycle === 'runtime' && n.layout !== 'daily') {
    const conditions = { max_age: `${Math.max(1, Math.round(parseDurationMs(cfg.rolloverMaxAge ?? '1d') / 1000))}s` };
    const targets = n.layout === 'dataStream' ? [n.stream] : [`${n.spanBase}-write`, `${n.serviceBase}-write`];
    for (const t of targets) {
      const r = await client.request<{ rolled_over?: boolean; new_index?: string }>('POST', `/${t}/_rollover`, { body: { conditions } });
      if (r.body.rolled_over && r.body.new_index) {
        done.push(`rolled ${t} over to ${r.body.new_index}`);
        if (n.layout === 'rollover') await client.request('POST', '/_aliases', { body: { actions: [{ add: { index: r.body.new_index, alias: t.replace(/-write$/, '-read') } }] } });
      }
    }
  }
  const retention = cfg.retention ? parseDurationMs(cfg.retention) : undefined;
  if (retention === undefined || (lifecycle !== 'runtime' && lifecycle !== 'none')) return done;
  const cutoff = now - retention;
  const rows = (await client.request<{ index: string; 'creation.date': string }[]>('GET', `/_cat/indices/${n.p}jaeger-*,.ds-${n.stream}-*`, { query: { format: 'json', h: 'index,creation.date', expand_wildcards: 'all' }, ignore: [404] })).body;
  const writeIndices = new Set<string>();
  if (n.layout === 'dataStream') {
    const ds = await client.request<{ data_streams?: { indices: { index_name: string }[] }[] }>('GET', `/_data_stream/${n.stream}`, { ignore: [404] });
    const list = ds.body.data_streams?.[0]?.indices ?? [];
    if (list.length) writeIndices.add(list[list.length - 1]!.index_name);
  }
  if (n.layout === 'rollover') {
    const aliases = await client.request<Record<string, { aliases: Record<string, { is_write_index?: boolean }> }>>('GET', `/_alias/${n.spanBase}-write,${n.serviceBase}-write`, { ignore: [404] });
    for (const [index, a] of Object.entries(aliases.body ?? {})) if (Object.values(a.aliases ?? {}).some((x) => x.is_write_index !== false)) writeIndices.add(index);
  }
  const cutoffDay = new Date(cutoff).toISOString().slice(0, 10);
  for (const row of Array.isArray(rows) ? rows : []) {
    const index = row.index;
    if (index === n.sampling || index === n.meta || writeIndices.has(index)) continue;
    const expired = n.isExpiredDaily(index, cutoffDay) || (n.layout !== 'daily' && !/\d{4}-\d{2}-\d{2}$/.test(index) && Number(row['creation.date']) < cutoff);
    if (!expired) continue;
    await client.request('DELETE', `/${index}`, { ignore: [404] });
    done.push(`deleted ${index}`);
  }
  if (done.length) conn.log?.info({ actions: done }, 'index maintenance');
  return done;
}

/** Makes everything written so far searchable (tests). */
export async function refreshIndices(conn: SearchConnection): Promise<void> {
  await conn.client.request('POST', `/${conn.names.allData()}/_refresh`, { query: READ_OPTS });
}
