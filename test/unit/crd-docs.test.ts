// Every field of every CRD is documented (`kubectl explain` shows the description), and the printer columns show
// why an object is not ready. Pure: the CRDs as generated, no API server.
import { backendAvailability } from '../../src/api/backend-plugin.js';
import { KINDS, allCrds, crdFor } from '../../src/api/crds.js';
import type { OpenAPISchema } from '../../src/api/schema.js';
import { PLUGINS } from '../../src/storage/plugins.js';

/**
 * Paths of the properties (at any depth, through list items and map values) without a non-empty description.
 * The root's metadata is ObjectMeta: the API server documents it and refuses a description there.
 */
export function undocumented(s: OpenAPISchema, path: string, root = false): string[] {
  const out: string[] = [];
  for (const [k, p] of Object.entries(s.properties ?? {})) {
    if (root && k === 'metadata') continue;
    const at = `${path}.${k}`;
    if (!p.description?.trim()) out.push(at);
    out.push(...undocumented(p, at));
  }
  if (s.items) out.push(...undocumented(s.items, `${path}[]`));
  if (s.additionalProperties) out.push(...undocumented(s.additionalProperties, `${path}{}`));
  return out;
}

type Crd = { spec: { names: { kind: string }; versions: { additionalPrinterColumns: { name: string; jsonPath: string; priority?: number }[]; schema: { openAPIV3Schema: OpenAPISchema } }[] } };
const crds = () => allCrds(backendAvailability(PLUGINS)) as unknown as Crd[];

describe('CRD documentation', () => {
  it.each(Object.keys(KINDS))('every property of %s has a description', (kind) => {
    const crd = crds().find((c) => c.spec.names.kind === kind)!;
    const schema = crd.spec.versions[0]!.schema.openAPIV3Schema;
    expect(schema.description?.trim()).toBeTruthy();
    expect(undocumented(schema, kind, true)).toEqual([]);
  });

  it('the walk finds an undocumented field however deep (a walk that saw nothing would pass vacuously)', () => {
    const s: OpenAPISchema = { type: 'object', properties: { a: { type: 'array', description: 'a', items: { type: 'object', properties: { b: { type: 'string', description: ' ' } } } } } };
    expect(undocumented(s, 'x')).toEqual(['x.a[].b']);
    expect(undocumented({ properties: { metadata: { type: 'object' }, spec: { type: 'object' } } }, 'x', true)).toEqual(['x.spec']);
  });
});

describe('printer columns', () => {
  const columns = (kind: string) => crds().find((c) => c.spec.names.kind === kind)!.spec.versions[0]!.additionalPrinterColumns;
  it('kubectl get sp shows Propagated and its reason', () => {
    const c = columns('SamplingPolicy');
    expect(c.find((x) => x.name === 'Propagated')?.jsonPath).toBe('.status.conditions[?(@.type=="Propagated")].status');
    expect(c.find((x) => x.name === 'Reason')).toMatchObject({ jsonPath: '.status.conditions[?(@.type=="Propagated")].reason' });
    expect(c.find((x) => x.name === 'Reason')?.priority).toBeUndefined();
  });
  it.each(['TraceStore', 'StreamingJob'])('kubectl get %s shows Ready and its reason', (kind) => {
    const c = columns(kind);
    expect(c.find((x) => x.name === 'Ready')?.jsonPath).toBe('.status.conditions[?(@.type=="Ready")].status');
    expect(c.find((x) => x.name === 'Reason')?.jsonPath).toBe('.status.conditions[?(@.type=="Ready")].reason');
  });
});

describe('backend types this version cannot deploy', () => {
  // every type of the CRD has a plug-in now: a table without the clickhouse one stands for a version that lacks it
  const WITHOUT_CLICKHOUSE = { ...PLUGINS, clickhouse: { type: 'clickhouse', notInThisVersion: 'ClickHouse storage is not in this build' } } as unknown as typeof PLUGINS;
  const availability = backendAvailability(WITHOUT_CLICKHOUSE);
  const backendSchema = () => (crdFor(KINDS.TraceStore, availability) as unknown as Crd).spec.versions[0]!.schema.openAPIV3Schema.properties!.spec!.properties!.backend!;

  it('are refused at admission with a message naming the available types, derived from the plug-in table', () => {
    const rules = backendSchema()['x-kubernetes-validations'] ?? [];
    for (const t of ['clickhouse']) {
      const r = rules.find((x) => x.fieldPath === `.${t}`);
      expect(r).toMatchObject({ rule: `!has(self.${t})`, reason: 'FieldValueForbidden' });
      expect(r?.message).toContain(`spec.backend.${t} is not available in this version (ClickHouse storage is not in this build)`);
      expect(r?.message).toContain('available backends: spec.backend.memory, spec.backend.embedded, spec.backend.elasticsearch, spec.backend.opensearch, spec.backend.cassandra, spec.backend.grpc');
    }
    expect(rules.some((x) => x.fieldPath === '.memory' || x.fieldPath === '.embedded' || x.fieldPath === '.opensearch' || x.fieldPath === '.cassandra' || x.fieldPath === '.grpc')).toBe(false);
    expect(backendSchema().properties!.clickhouse!.description).toContain('not available in this version');
    expect(backendSchema().properties!.grpc!.description).not.toContain('not available');
  });

  it('are none in this version: every backend type of the CRD is deployable', () => {
    const schema = (crdFor(KINDS.TraceStore, backendAvailability(PLUGINS)) as unknown as Crd).spec.versions[0]!.schema.openAPIV3Schema.properties!.spec!.properties!.backend!;
    expect((schema['x-kubernetes-validations'] ?? []).filter((x) => x.reason === 'FieldValueForbidden' && /not available/.test(x.message ?? ''))).toEqual([]);
  });

  it('a plug-in added to the table lifts its rejection', () => {
    const withCassandra = backendAvailability({ ...WITHOUT_CLICKHOUSE, cassandra: { ...PLUGINS.memory, type: 'cassandra' } } as unknown as typeof PLUGINS);
    const schema = (crdFor(KINDS.TraceStore, withCassandra) as unknown as Crd).spec.versions[0]!.schema.openAPIV3Schema.properties!.spec!.properties!.backend!;
    const rules = schema['x-kubernetes-validations'] ?? [];
    expect(rules.some((x) => x.fieldPath === '.cassandra')).toBe(false);
    expect(rules.find((x) => x.fieldPath === '.clickhouse')?.message).toContain('spec.backend.memory, spec.backend.embedded, spec.backend.elasticsearch, spec.backend.opensearch, spec.backend.cassandra, spec.backend.grpc');
    expect(schema.properties!.cassandra!.description).not.toContain('not available');
  });
});
