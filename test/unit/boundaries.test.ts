// The layout rules of DESIGN.md §2, checked on the sources: the operator side (controllers, reconcilers) loads no
// database client and no backend folder (backends reach it only through the table its composition root hands in),
// storage depends on neither Kubernetes nor the operator, and the API (the contracts both sides import) depends on
// no storage code.
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ROOT, sources } from '../root.js';

/** Every module specifier a file imports or re-exports (type-only imports included). */
function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+'([^']+)'/gm)].map((m) => m[1]!);
}

const DATABASE_CLIENTS = /^(@elastic\/|@opensearch-project\/|lmdb|cassandra-driver|@clickhouse\/|kafkajs|chdb)/;

function violations(dir: string, forbidden: (spec: string) => boolean): string[] {
  return sources(join(ROOT, dir)).flatMap((f) => imports(f).filter(forbidden).map((spec) => `${relative(ROOT, f)} imports ${spec}`));
}

describe('layout boundaries', () => {
  test('the operator side imports no database client and no storage backend', () => {
    const bad = (spec: string) => DATABASE_CLIENTS.test(spec) || /(^|\/)storage\//.test(spec);
    expect([...violations('src/controllers', bad), ...violations('src/reconcilers', bad)]).toEqual([]);
  });

  test('storage imports neither Kubernetes nor the runtime nor the operator', () => {
    const bad = (spec: string) => /^@kubernetes\//.test(spec) || /(^|\/)(kube|runtime|controllers|reconcilers|local)\//.test(spec);
    expect(violations('src/storage', bad)).toEqual([]);
  });

  test('the API (CRDs, runtime config, plug-in contract) imports no storage code', () => {
    const bad = (spec: string) => DATABASE_CLIENTS.test(spec) || /(^|\/)storage\//.test(spec);
    expect(violations('src/api', bad)).toEqual([]);
  });

  test('the scan finds imports at all (a scan that saw none would pass vacuously)', () => {
    expect(imports(join(ROOT, 'src/cli.ts'))).toContain('./storage/plugins.js');
  });
});
