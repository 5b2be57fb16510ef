// Provisioning, owned by the backend and idempotent: index templates (composable on Elasticsearch 8/9 and for
// data streams; legacy on Elasticsearch 7 and OpenSearch), the lifecycle policy (ILM on Elasticsearch, ISM on
// OpenSearch when its plugin is installed), the first rollover indices with their aliases, and the schema version
// recorded in <p>jaeger-meta. Running it again re-applies everything, which is how a newer version upgrades a
// cluster in place (templates and the mappings of existing indices gain new fields).
import { StorageError } from '../api/errors.js';
import type { SearchClient, ServerInfo } from './client.js';
import { SERVICE_MAPPING, SPAN_MAPPING } from './docs.js';
import { type Names, parseDurationMs } from './layout.js';

const QUANTITY: Record<string, number> = { '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };
/** a Kubernetes quantity (50Gi, 10G) as bytes, which every lifecycle API accepts ("53687091200b") */
export function bytes(q: string): string {
  const m = /^([0-9.]+)(k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(q);
  if (!m) throw new Error(`rolloverAfter.maxPrimaryShardSize: ${JSON.stringify(q)} is not a size such as 50Gi`);
  return `${Math.round(Number(m[1]) * QUANTITY[m[2] ?? '']!)}b`;
}

/** a duration as whole seconds, which every lifecycle API accepts */
const secs = (d: string): string => `${Math.max(1, Math.round(parseDurationMs(d) / 1000))}s`;

/** Bumped whenever templates, mappings or policies change. */
export const SCHEMA_VERSION = 1;

export interface ProvisionOptions {
  shards: number;
  replicas: number;
  /** rollover conditions (rollover and dataStream layouts) */
  rolloverMaxAge?: string;
  rolloverMaxPrimaryShardSize?: string;
  /** delete data older than this (e.g. "7d"); none when unset */
  retention?: string;
}

export interface ProvisionResult {
  schemaVersion: number;
  server: ServerInfo;
  /** how rollover and retention are enforced: by a server policy, or by the runtime's maintenance loop */
  lifecycle: 'ilm' | 'ism' | 'runtime' | 'none';
  created: string[];
}

const DEPS_MAPPING = { dynamic: 'strict', properties: { timestamp: { type: 'date', format: 'epoch_millis' }, timestampNanos: { type: 'long' }, dependencies: { type: 'object', enabled: false } } };
const SAMPLING_MAPPING = {
  dynamic: 'strict',
  properties: {
    kind: { type: 'keyword' },
    at: { type: 'long' },
    atMillis: { type: 'date', format: 'epoch_millis' },
    hostname: { type: 'keyword' },
    data: { type: 'object', enabled: false },
    holder: { type: 'keyword' },
    expiresMillis: { type: 'long' },
  },
};

export const policyName = (n: Names): string => `${n.p}jaeger-lifecycle`;

/** Whether composable templates are the ones to use. */
const composable = (s: ServerInfo, n: Names): boolean => n.layout === 'dataStream' || (s.distribution === 'elasticsearch' && s.major >= 8);

export async function provision(c: SearchClient, n: Names, o: ProvisionOptions): Promise<ProvisionResult> {
  const server = await c.connect();
  const created: string[] = [];
  const settings = { number_of_shards: o.shards, number_of_replicas: o.replicas };

  if (n.layout === 'dataStream' && !(await hasApi(c, `/_data_stream/${n.stream}`))) {
    throw new StorageError(
      'Unimplemented',
      `${server.distribution} ${server.version} has no data streams (GET /_data_stream answers "no handler"): use layout daily or rollover, or a distribution with the data streams module`,
    );
  }
  // lifecycle policy first: templates refer to it
  let lifecycle: ProvisionResult['lifecycle'] = n.layout === 'daily' ? (o.retention ? 'runtime' : 'none') : 'runtime';
  if (n.layout !== 'daily') {
    // Elasticsearch without its ILM module (e.g. a minimal distribution) gets rollover and retention from the runtime
    if (server.distribution === 'elasticsearch' && (await hasApi(c, '/_ilm/status'))) {
      await c.request('PUT', `/_ilm/policy/${policyName(n)}`, { body: { policy: ilmPolicy(o) } });
      lifecycle = 'ilm';
    } else if (await ismAvailable(c)) {
      await putIsmPolicy(c, n, o);
      lifecycle = 'ism';
    }
  }
  const lifecycleSettings = (alias: string): Record<string, string> => {
    if (lifecycle === 'ilm') return n.layout === 'rollover' ? { 'index.lifecycle.name': policyName(n), 'index.lifecycle.rollover_alias': alias } : { 'index.lifecycle.name': policyName(n) };
    if (lifecycle === 'ism' && n.layout === 'rollover') return { 'plugins.index_state_management.rollover_alias': alias };
    return {};
  };

  const template = async (name: string, pattern: string, mappings: unknown, extra: Record<string, unknown> = {}, dataStream = false) => {
    if (composable(server, n) || dataStream) {
      await c.request('PUT', `/_index_template/${name}`, {
        body: { index_patterns: [pattern], priority: 500, ...(dataStream ? { data_stream: {} } : {}), template: { settings: { ...settings, ...extra }, mappings }, _meta: { managed_by: 'jaeger-storage-operator', schema_version: SCHEMA_VERSION } },
      });
    } else {
      await c.request('PUT', `/_template/${name}`, { body: { index_patterns: [pattern], order: 10, settings: { ...settings, ...extra }, mappings, version: SCHEMA_VERSION } });
    }
  };

  if (n.layout === 'dataStream') {
    await template(`${n.p}jaeger-spans-stream`, n.stream, SPAN_MAPPING, lifecycleSettings(''), true);
  } else {
    await template(`${n.spanBase}`, `${n.spanBase}-*`, SPAN_MAPPING, lifecycleSettings(`${n.spanBase}-write`));
  }
  await template(`${n.serviceBase}`, `${n.serviceBase}-*`, SERVICE_MAPPING, n.layout === 'rollover' ? lifecycleSettings(`${n.serviceBase}-write`) : {});
  await template(`${n.dependenciesBase}`, `${n.dependenciesBase}-*`, DEPS_MAPPING);

  for (const [index, mappings] of [
    [n.sampling, SAMPLING_MAPPING],
    [n.meta, { dynamic: true, properties: {} }],
  ] as const) {
    const r = await c.request('PUT', `/${index}`, { body: { settings: { number_of_shards: 1, number_of_replicas: o.replicas }, mappings }, ignore: [400] });
    if (r.status < 300) created.push(index);
  }

  if (n.layout === 'rollover') {
    for (const base of [n.spanBase, n.serviceBase]) {
      const exists = await c.request('HEAD', `/_alias/${base}-write`, { ignore: [404] });
      if (exists.status === 404) {
        await c.request('PUT', `/${base}-000001`, { body: { aliases: { [`${base}-write`]: { is_write_index: true }, [`${base}-read`]: {} } } });
        created.push(`${base}-000001`);
      }
    }
  }
  if (n.layout === 'dataStream') {
    const r = await c.request('PUT', `/_data_stream/${n.stream}`, { ignore: [400] });
    if (r.status < 300) created.push(n.stream);
  }
  // upgrade in place: existing span indices get the fields of the current mapping
  const target = n.layout === 'dataStream' ? n.stream : `${n.spanBase}-*`;
  await c.request('PUT', `/${target}/_mapping`, { body: { properties: SPAN_MAPPING.properties }, query: { ignore_unavailable: true, allow_no_indices: true } });

  await c.request('PUT', `/${n.meta}/_doc/schema`, { body: { version: SCHEMA_VERSION, layout: n.layout, lifecycle, appliedAt: new Date().toISOString() }, query: { refresh: true } });
  return { schemaVersion: SCHEMA_VERSION, server, lifecycle, created };
}

/** The schema version recorded in the cluster, or 0. */
export async function recordedSchemaVersion(c: SearchClient, n: Names): Promise<number> {
  const r = await c.request<{ _source?: { version?: number } }>('GET', `/${n.meta}/_doc/schema`, { ignore: [404] });
  return r.status === 200 ? (r.body._source?.version ?? 0) : 0;
}

/**
 * Whether the server has a handler for this GET route: 200, or 404 for a missing resource, mean it has; a route
 * nobody handles answers 400 "no handler found" (or 405 where another method is registered for the path).
 */
async function hasApi(c: SearchClient, path: string): Promise<boolean> {
  const r = await c.request<unknown>('GET', path, { ignore: [400, 404, 405] });
  if (r.status === 200) return true;
  if (r.status !== 404) return false;
  // a 404 from a handler names the missing resource; one without a JSON error body came from no handler
  return typeof (r.body as { error?: unknown } | undefined)?.error === 'object';
}

async function ismAvailable(c: SearchClient): Promise<boolean> {
  const r = await c.request<unknown>('GET', '/_cat/plugins', { query: { format: 'json' }, ignore: [404] });
  return Array.isArray(r.body) && r.body.some((p: { component?: string }) => p.component === 'opensearch-index-management');
}

function ilmPolicy(o: ProvisionOptions) {
  const rollover: Record<string, string> = { max_age: secs(o.rolloverMaxAge ?? '1d') };
  if (o.rolloverMaxPrimaryShardSize) rollover.max_primary_shard_size = bytes(o.rolloverMaxPrimaryShardSize);
  return { phases: { hot: { actions: { rollover } }, ...(o.retention ? { delete: { min_age: secs(o.retention), actions: { delete: {} } } } : {}) } };
}

async function putIsmPolicy(c: SearchClient, n: Names, o: ProvisionOptions): Promise<void> {
  const conditions: Record<string, string> = { min_index_age: secs(o.rolloverMaxAge ?? '1d') };
  if (o.rolloverMaxPrimaryShardSize) conditions.min_primary_shard_size = bytes(o.rolloverMaxPrimaryShardSize);
  const states = [
    { name: 'hot', actions: [{ rollover: conditions }], transitions: o.retention ? [{ state_name: 'delete', conditions: { min_index_age: secs(o.retention) } }] : [] },
    ...(o.retention ? [{ name: 'delete', actions: [{ delete: {} }], transitions: [] }] : []),
  ];
  const pattern = n.layout === 'dataStream' ? n.stream : `${n.spanBase}-*`;
  const body = { policy: { description: 'jaeger spans: rollover and retention', default_state: 'hot', states, ism_template: [{ index_patterns: [pattern], priority: 100 }] } };
  const existing = await c.request<{ _seq_no?: number; _primary_term?: number }>('GET', `/_plugins/_ism/policies/${policyName(n)}`, { ignore: [404] });
  if (existing.status === 404) await c.request('PUT', `/_plugins/_ism/policies/${policyName(n)}`, { body });
  else await c.request('PUT', `/_plugins/_ism/policies/${policyName(n)}`, { body, query: { if_seq_no: existing.body._seq_no ?? 0, if_primary_term: existing.body._primary_term ?? 1 } });
}
