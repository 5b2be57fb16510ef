import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { backendAvailability } from '../../src/api/backend-plugin.js';
import { validateSpec, withDefaults } from '../../src/api/crds.js';
import { renderCrdFiles } from '../../src/api/render-crds.js';
import type { TraceStoreSpec } from '../../src/api/tracestore.js';
import { ConfigError, parseRuntimeConfig } from '../../src/api/runtime-config.js';
import { PLUGINS } from '../../src/storage/plugins.js';
import { ROOT } from '../root.js';

const fields = (kind: 'TraceStore' | 'SamplingPolicy' | 'StreamingJob', spec: unknown, old?: unknown) => validateSpec(kind, spec, old).map((e) => e.field);

describe('CRD manifests', () => {
  it('crds/*.yaml are exactly what src/api declares (run `npm run gen:crds` after changing the schema)', () => {
    for (const [file, text] of renderCrdFiles(backendAvailability(PLUGINS))) {
      expect(readFileSync(join(ROOT, 'crds', file), 'utf8')).toBe(text);
    }
  });
});

describe('TraceStore validation in reconcile', () => {
  it('accepts the memory sample spec', () => {
    expect(validateSpec('TraceStore', { backend: { memory: { maxTraces: 10 } }, runtime: { replicas: 1 } })).toEqual([]);
  });
  it('requires exactly one backend and names the choices', () => {
    const none = validateSpec('TraceStore', { backend: {} });
    expect(none).toHaveLength(1);
    expect(none[0]!.field).toBe('spec.backend');
    expect(none[0]!.message).toContain('spec.backend.memory');
    expect(fields('TraceStore', { backend: { memory: {}, grpc: { endpoint: 'a:1' } } })).toEqual(['spec.backend']);
  });
  it('reports ranges, patterns and unknown fields with their full path', () => {
    const errs = validateSpec('TraceStore', {
      backend: { memory: { maxTraces: 0 } },
      retention: 'seven days',
      runtime: { replicas: 1, imagePullPolicy: 'Sometimes', bogus: 1 },
    });
    const byField = Object.fromEntries(errs.map((e) => [e.field, e.message]));
    expect(byField['spec.backend.memory.maxTraces']).toBe('must be >= 1 (got 0)');
    expect(byField['spec.retention']).toContain('a duration such as');
    expect(byField['spec.runtime.imagePullPolicy']).toContain('Always, IfNotPresent, Never');
    expect(byField['spec.runtime.bogus']).toContain('is not a known field');
  });
  it('refuses more than one replica for in-pod backends', () => {
    expect(fields('TraceStore', { backend: { memory: {} }, runtime: { replicas: 2 } })).toEqual(['spec.runtime.replicas']);
    expect(fields('TraceStore', { backend: { opensearch: { endpoints: ['http://os:9200'] } }, runtime: { replicas: 3 } })).toEqual([]);
  });
  it('keeps the backend type immutable (transition rule twin)', () => {
    expect(fields('TraceStore', { backend: { embedded: {} } }, { backend: { memory: {} } })).toEqual(['spec.backend']);
    expect(fields('TraceStore', { backend: { memory: { maxTraces: 5 } } }, { backend: { memory: {} } })).toEqual([]);
  });
  it('fills CRD defaults like the API server', () => {
    const d = withDefaults<TraceStoreSpec>('TraceStore', { backend: { memory: {} } });
    expect(d.backend.memory?.maxTraces).toBe(100_000);
    expect(d.deletionPolicy).toBe('Retain');
  });
});

describe('SamplingPolicy and StreamingJob validation', () => {
  it('rejects probability 1.5 and empty service names', () => {
    const errs = validateSpec('SamplingPolicy', {
      targetRef: { name: 'demo' },
      default: { type: 'probabilistic', value: 1.5 },
      services: [{ name: '' }],
    });
    expect(errs.map((e) => e.field).sort()).toEqual(['spec.default.value', 'spec.services[0].name']);
  });
  it('rejects duplicate service entries', () => {
    expect(fields('SamplingPolicy', { targetRef: { name: 'x' }, services: [{ name: 'a' }, { name: 'a' }] })).toEqual(['spec.services[1]']);
  });
  it('dimensions only for metrics jobs', () => {
    expect(fields('StreamingJob', { traceStoreRef: { name: 'x' }, kind: 'dependencies', dimensions: ['a'] })).toEqual(['spec.dimensions']);
  });
});

describe('runtime configuration', () => {
  it('fills defaults and rejects bad listeners naming the field', () => {
    const cfg = parseRuntimeConfig({ apiVersion: 'storage.jaegertracing.io/v1alpha1', kind: 'RuntimeConfig', backend: { memory: {} } });
    expect(cfg.listen?.otlpGrpc).toBe('0.0.0.0:4317');
    expect(() => parseRuntimeConfig({ apiVersion: 'storage.jaegertracing.io/v1alpha1', kind: 'RuntimeConfig', backend: { memory: {} }, listen: { admin: 'nope' } })).toThrow(
      /config\.listen\.admin/,
    );
    try {
      parseRuntimeConfig({ kind: 'RuntimeConfig', backend: {} }, 'x.yaml');
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).message).toContain('config.apiVersion: is required');
      expect((e as ConfigError).message).toContain('config.backend: exactly one backend');
    }
  });
});
