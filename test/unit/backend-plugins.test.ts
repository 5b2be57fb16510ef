// The plug-in table against the CRD: every backend type has a plug-in or an explicit "not in this version" entry,
// each plug-in's runtime section passes its own config schema, the rendered sections keep the bytes earlier
// versions rendered (so an operator upgrade does not restart runtime pods), tenancy follows the traits, and the
// table is the one place that lists backends. No server, no control plane.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { ROOT, sources } from '../root.js';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { type BackendSpec, type OperatorPluginTable, isAvailable } from '../../src/api/backend-plugin.js';
import { withDefaults } from '../../src/api/crds.js';
import { ConfigError, parseRuntimeConfig } from '../../src/api/runtime-config.js';
import type { FieldError } from '../../src/api/schema.js';
import { BACKEND_TYPES, TENANCY_BACKENDS, type TraceStore } from '../../src/api/tracestore.js';
import { PLUGINS, availablePlugin, backendSection, openBackend, supportsTenancy, tenancyBackends } from '../../src/storage/plugins.js';


// the operator takes the same table (type-level check: compiling is the assertion)
const operatorTable: OperatorPluginTable = PLUGINS;

const canonicalYaml = (v: unknown): string => stringify(v, { sortMapEntries: true, lineWidth: 0 });
const sample = (name: string): TraceStore['spec'] => (parse(readFileSync(join(ROOT, 'config/samples', `${name}.yaml`), 'utf8')) as TraceStore).spec;

/** The runtime config's backend as a plug-in renders it from a spec (defaults applied, as the API server stores it). */
function rendered(spec: TraceStore['spec']): Record<string, unknown> {
  const backend = withDefaults('TraceStore', spec).backend;
  const type = BACKEND_TYPES.find((t) => backend[t] !== undefined)!;
  const plugin = availablePlugin(type)!;
  return { [type]: plugin.runtimeSection(backend[type] as BackendSpec) };
}

const SPECS: Record<string, TraceStore['spec']> = {
  memory: { backend: { memory: {} } },
  embedded: { backend: { embedded: { size: '5Gi', storageClassName: 'fast' } } },
  opensearch: sample('tracestore-opensearch'),
  opensearchDataStream: sample('tracestore-opensearch-datastream'),
  elasticsearch: sample('tracestore-elasticsearch'),
  grpc: sample('tracestore-grpc'),
  cassandra: sample('tracestore-cassandra'),
  cassandraEverything: {
    backend: {
      cassandra: {
        endpoints: ['a', 'b:9142'],
        credentialsSecretRef: { name: 'c', usernameKey: 'u', passwordKey: 'p' },
        allowPlaintextCredentials: true,
        tls: { enabled: true, caSecretRef: { name: 'ca', key: 'bundle.pem' }, serverName: 'cassandra.example', insecureSkipVerify: false },
        keyspace: 'traces',
        datacenter: 'eu-1',
        replication: { strategy: 'SimpleStrategy', factor: 2 },
        consistency: { read: 'ONE', write: 'EACH_QUORUM' },
        compactionWindow: '6h',
      },
    },
  },
  grpcEverything: {
    backend: {
      grpc: {
        endpoint: 'remote:17271',
        writerEndpoint: 'remote:4317',
        tls: { enabled: true, caSecretRef: { name: 'ca', key: 'bundle.pem' }, serverName: 'remote.example' },
        tokenSecretRef: { name: 't', key: 'tok' },
        allowPlaintextCredentials: false,
        timeout: '10s',
      },
    },
  },
  searchEverything: {
    backend: {
      opensearch: {
        endpoints: ['https://a:9200', 'https://b:9200'],
        credentialsSecretRef: { name: 'c', usernameKey: 'u', passwordKey: 'p' },
        allowPlaintextCredentials: true,
        tls: { enabled: true, caSecretRef: { name: 'ca', key: 'bundle.pem' }, insecureSkipVerify: true },
        indexPrefix: 'x',
        layout: 'rollover',
        shards: 2,
        replicas: 0,
        rolloverAfter: { maxAge: '12h', maxPrimaryShardSize: '10Gi' },
      },
    },
  },
};

describe('backend plug-in table', () => {
  test('every backend type of the CRD has a plug-in or an explicit "not in this version" entry, under its own key', () => {
    expect(Object.keys(PLUGINS).sort()).toEqual([...BACKEND_TYPES].sort());
    for (const t of BACKEND_TYPES) {
      const p = operatorTable[t];
      expect(p.type).toBe(t);
      if (!isAvailable(p)) expect(p.notInThisVersion).toMatch(/\S/);
    }
    expect(BACKEND_TYPES.filter((t) => isAvailable(PLUGINS[t]))).toEqual(['memory', 'embedded', 'elasticsearch', 'opensearch', 'cassandra', 'clickhouse', 'grpc']);
  });

  test("each plug-in's config schema accepts its runtime section of sample specs, with and without the CRD defaults", () => {
    for (const [name, spec] of Object.entries(SPECS)) {
      for (const s of [spec, withDefaults('TraceStore', spec)]) {
        const type = BACKEND_TYPES.find((t) => s.backend[t] !== undefined)!;
        const plugin = availablePlugin(type)!;
        const errors: FieldError[] = [];
        plugin.configSchema.validate(plugin.runtimeSection(s.backend[type] as BackendSpec), `config.backend.${type}`, errors);
        expect([name, errors]).toEqual([name, []]);
      }
    }
  });

  test('the rendered backend section keeps the bytes of earlier versions (backend: the defaulted spec section)', () => {
    for (const spec of Object.values(SPECS)) expect(canonicalYaml(rendered(spec))).toBe(canonicalYaml(withDefaults('TraceStore', spec).backend));
    // pinned: what operators before the plug-in table rendered for these specs
    expect(canonicalYaml(rendered(SPECS.memory!))).toBe('memory:\n  maxTraces: 100000\n');
    expect(canonicalYaml(rendered({ backend: { embedded: {} } }))).toBe('embedded:\n  size: 10Gi\n');
    expect(canonicalYaml(rendered(SPECS.opensearch!))).toBe(
      'opensearch:\n  allowPlaintextCredentials: false\n  credentialsSecretRef:\n    name: opensearch-credentials\n    passwordKey: password\n    usernameKey: username\n  endpoints:\n    - https://opensearch.observability.svc:9200\n  indexPrefix: prod\n  layout: daily\n  replicas: 1\n  shards: 3\n  tls:\n    caSecretRef:\n      key: ca.crt\n      name: opensearch-ca\n    enabled: true\n    insecureSkipVerify: false\n',
    );
    expect(canonicalYaml(rendered(SPECS.opensearchDataStream!))).toBe(
      'opensearch:\n  allowPlaintextCredentials: false\n  credentialsSecretRef:\n    name: opensearch-credentials\n    passwordKey: password\n    usernameKey: username\n  endpoints:\n    - https://opensearch.observability.svc:9200\n  indexPrefix: stream\n  layout: dataStream\n  replicas: 1\n  rolloverAfter:\n    maxAge: 1d\n    maxPrimaryShardSize: 50Gi\n  shards: 3\n  tls:\n    caSecretRef:\n      key: ca.crt\n      name: opensearch-ca\n    enabled: true\n    insecureSkipVerify: false\n',
    );
    expect(canonicalYaml(rendered(SPECS.elasticsearch!))).toBe(
      'elasticsearch:\n  allowPlaintextCredentials: false\n  credentialsSecretRef:\n    name: elasticsearch-credentials\n    passwordKey: password\n    usernameKey: username\n  endpoints:\n    - https://elasticsearch.observability.svc:9200\n  indexPrefix: prod\n  layout: rollover\n  replicas: 1\n  rolloverAfter:\n    maxAge: 1d\n  shards: 5\n  tls:\n    caSecretRef:\n      key: ca.crt\n      name: elasticsearch-ca\n    enabled: true\n    insecureSkipVerify: false\n',
    );
  });

  test('tenancy follows the traits, and agrees with the list the CRD enforces', () => {
    expect(tenancyBackends()).toEqual([...TENANCY_BACKENDS]);
    expect(supportsTenancy('memory')).toBe(true);
    expect(supportsTenancy('opensearch')).toBe(false);
    expect(supportsTenancy('cassandra')).toBe(true);
    expect(supportsTenancy('elasticsearch')).toBe(false);
  });

  test('traits: data in the pod means one writer; data outside the pods comes with a check and a cleanup', () => {
    for (const t of BACKEND_TYPES) {
      const p = availablePlugin(t);
      if (!p) continue;
      expect([t, p.traits.singleWriter && p.traits.externalState]).toEqual([t, false]);
      if (p.traits.externalState) expect([t, typeof p.check?.run, typeof p.cleanup, p.traits.provisions.length > 0]).toEqual([t, 'function', 'function', true]);
    }
  });

  test('the runtime validates the backend section with the plug-in schema, naming the field', () => {
    const cfg = (backend: Record<string, unknown>) => parseRuntimeConfig({ apiVersion: 'storage.jaegertracing.io/v1alpha1', kind: 'RuntimeConfig', backend }, 'rt.yaml');
    const errorOf = (backend: Record<string, unknown>): string => {
      try {
        backendSection(cfg(backend));
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return (e as ConfigError).message;
      }
      return '';
    };
    expect(errorOf({ opensearch: { endpoints: [] } })).toContain('config.backend.opensearch.endpoints');
    expect(errorOf({ opensearch: { endpoints: ['https://a:9200'], layout: 'weekly' } })).toContain('config.backend.opensearch.layout');
    expect(errorOf({ embedded: { size: 'lots' } })).toContain('config.backend.embedded.size');
    expect(errorOf({ clickhouse: { endpoints: ['clickhouse:8123'] } })).toContain('config.backend.clickhouse.endpoints');
    expect(errorOf({ clickhouse: { endpoints: ['http://c:8123'], cluster: 'a; DROP' } })).toContain('config.backend.clickhouse.cluster');
    expect(errorOf({ clickhouse: { endpoints: ['http://c:8123'] } })).toBe('');
    expect(errorOf({ cassandra: { endpoints: ['c:9042'], consistency: { write: 'ANY' } } })).toContain('config.backend.cassandra.consistency.write');
    expect(errorOf({ cassandra: { endpoints: ['c:9042'] } })).toBe('');
    // defaults of the plug-in's schema are filled in
    expect(backendSection(cfg({ opensearch: { endpoints: ['https://a:9200'] } })).config).toMatchObject({ layout: 'daily', shards: 5, replicas: 1 });
    expect(backendSection(cfg({ cassandra: { endpoints: ['c'] } })).config).toMatchObject({ keyspace: 'jaeger_storage', datacenter: 'dc1' });
    // the generic rules of the runtime config itself
    expect(() => cfg({})).toThrow(/config\.backend: exactly one backend/);
    expect(() => cfg({ memory: {}, opensearch: { endpoints: ['https://a:9200'] } })).toThrow(/config\.backend: exactly one backend/);
    expect(() => cfg({ memory: 3 })).toThrow(/config\.backend\.memory: must be an object/);
    expect(() => cfg({ mongo: {} })).toThrow(/config\.backend\.mongo: is not a known backend/);
  });
});

test('openBackend opens the embedded store in the runtime config dataDir', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'jso-plugin-embedded-'));
  try {
    const cfg = parseRuntimeConfig({ apiVersion: 'storage.jaegertracing.io/v1alpha1', kind: 'RuntimeConfig', backend: { embedded: { size: '1Gi' } }, dataDir: dir });
    const backend = await openBackend(cfg, {});
    try {
      await backend.provision();
      expect(await backend.traceReader().getServices()).toEqual([]);
      expect(readdirSync(dir).length).toBeGreaterThan(0);
    } finally {
      await backend.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Module specifiers a file loads when it is loaded (type-only imports and dynamic import() excluded). */
function staticImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/^\s*(?:import|export)\s+(?!type\b)[^'"]*?from\s+'([^']+)'|^\s*import\s+'([^']+)'/gm)].map((m) => (m[1] ?? m[2])!);
}

describe('one table', () => {
  const src = sources(join(ROOT, 'src'));

  test('only src/storage/plugins.ts imports the backend plug-ins', () => {
    const importers = src.filter((f) => staticImports(f).some((s) => /(^|\/)(memory|embedded|elasticsearch|cassandra|clickhouse|grpc)\/plugin\.js$/.test(s)));
    expect(importers.map((f) => relative(ROOT, f))).toEqual(['src/storage/plugins.ts']);
  });

  test('no other source lists the backend types (the CRD schema aside)', () => {
    // the operator's former trait table, until it is removed in favour of the plug-in traits
    const pending = ['src/reconcilers/tracestore/backends.ts'].filter((f) => existsSync(join(ROOT, f)));
    const listing = src.filter((f) => {
      const keys = new Set([...readFileSync(f, 'utf8').matchAll(/^\s*(memory|embedded|elasticsearch|opensearch|cassandra|clickhouse|grpc)\s*:/gm)].map((m) => m[1]));
      return keys.size >= 4;
    });
    expect(listing.map((f) => relative(ROOT, f)).filter((f) => !pending.includes(f))).toEqual(['src/storage/plugins.ts']);
  });

  test('loading the table loads no database client: stores are imported when a backend opens', () => {
    const seen = new Set<string>();
    const clients: string[] = [];
    const walk = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const spec of staticImports(file)) {
        if (/^(lmdb|@opensearch-project\/|@elastic\/|cassandra-driver|@clickhouse\/)/.test(spec)) clients.push(`${relative(ROOT, file)} -> ${spec}`);
        if (spec.startsWith('.')) walk(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
      }
    };
    walk(join(ROOT, 'src/storage/plugins.ts'));
    expect(seen.has(join(ROOT, 'src/storage/elasticsearch/plugin.ts'))).toBe(true);
    expect(seen.has(join(ROOT, 'src/storage/elasticsearch/store.ts'))).toBe(false);
    expect(seen.has(join(ROOT, 'src/storage/embedded/store.ts'))).toBe(false);
    expect(clients).toEqual([]);
  });
});

