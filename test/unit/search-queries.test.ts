// Golden request bodies of the Elasticsearch / OpenSearch backend, per index layout: find-trace-IDs (service,
// operation, attributes with the special keys, durations, time bounds, search depth), get-trace, services and
// operations, dependencies, sampling. Pure builders, no server. After an intended change of a query, regenerate:
//   UPDATE_GOLDEN=1 NODE_OPTIONS=--experimental-vm-modules npx jest dist/test/unit/search-queries.test.js
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type TraceQuery, checkTraceQuery } from '../../src/storage/api/index.js';
import { type Layout, Names } from '../../src/storage/elasticsearch/layout.js';
import {
  DEPENDENCY_FIELDS,
  dependenciesDoc,
  findTraceIdsRequest,
  latestProbabilitiesRequest,
  lockPath,
  operationsRequest,
  probabilitiesDoc,
  servicesRequest,
  spanInRangeRequest,
  storedDependenciesRequest,
  throughputDoc,
  throughputRequest,
  traceSpansRequest,
  tracesRequest,
  windowTraceIdsRequest,
} from '../../src/storage/elasticsearch/queries.js';

// the sources' test/fixtures, also when running compiled from dist/test/unit
const GOLDEN_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'test', 'fixtures', 'search-queries');
const UPDATE = process.env.UPDATE_GOLDEN === '1';

const S = 1_000_000_000n;
const HOUR = 3600n * S;
const DAY = 24n * HOUR;
const T0 = 1767261600000000000n; // 2026-01-01T10:00:00Z
const TRACE = '5b8efff798038103d269b633813fc60c';
const TRACE2 = '00000000000000000000000000000abc';

const find = (q: Partial<TraceQuery>) => (n: Names) => findTraceIdsRequest(n, checkTraceQuery({ searchDepth: 100, ...q })) ?? null;

/** every request, by case name, as a function of the layout's names */
const CASES: Record<string, (n: Names) => unknown> = {
  'findTraceIds: service': find({ serviceName: 'frontend' }),
  'findTraceIds: service and operation': find({ serviceName: 'frontend', operationName: 'GET /cart' }),
  'findTraceIds: no service, only a time window': find({ startTimeMin: T0 - HOUR, startTimeMax: T0 }),
  'findTraceIds: span attributes of every type': find({ serviceName: 'frontend', attributes: { 'http.method': 'GET', 'http.status_code': 200n, retry: true, ratio: 0.5 } }),
  'findTraceIds: error=true': find({ serviceName: 'frontend', attributes: { error: 'true' } }),
  'findTraceIds: error=false': find({ serviceName: 'frontend', attributes: { error: false } }),
  'findTraceIds: error with another value matches nothing (no request)': find({ serviceName: 'frontend', attributes: { error: 'maybe' } }),
  'findTraceIds: span.kind (OTLP and Jaeger spellings)': find({ serviceName: 'frontend', attributes: { 'span.kind': 'SPAN_KIND_SERVER' } }),
  'findTraceIds: span.kind lower case': find({ serviceName: 'frontend', attributes: { 'span.kind': 'client' } }),
  'findTraceIds: span.status': find({ serviceName: 'frontend', attributes: { 'span.status': 'STATUS_CODE_ERROR' } }),
  'findTraceIds: scope.name and scope.version': find({ serviceName: 'frontend', attributes: { 'scope.name': 'io.opentelemetry.http', 'scope.version': '1.2.3' } }),
  'findTraceIds: resource.* key': find({ serviceName: 'frontend', attributes: { 'resource.host.name': 'node-1', 'resource.k8s.pod.name': 'frontend-0' } }),
  'findTraceIds: minimum duration': find({ serviceName: 'frontend', durationMin: 1_500_000n }),
  'findTraceIds: maximum duration': find({ serviceName: 'frontend', durationMax: 2n * S }),
  'findTraceIds: duration range': find({ serviceName: 'frontend', durationMin: 1_000n, durationMax: 5n * S }),
  'findTraceIds: start time minimum only': find({ serviceName: 'frontend', startTimeMin: T0 - HOUR }),
  'findTraceIds: start time maximum only': find({ serviceName: 'frontend', startTimeMax: T0 }),
  'findTraceIds: time window within one day': find({ serviceName: 'frontend', startTimeMin: T0 - HOUR, startTimeMax: T0 + 999_999n }),
  'findTraceIds: time window over three days': find({ serviceName: 'frontend', startTimeMin: T0 - 2n * DAY, startTimeMax: T0 }),
  'findTraceIds: time window too long to list days': find({ serviceName: 'frontend', startTimeMin: T0 - 200n * DAY, startTimeMax: T0 }),
  'findTraceIds: searchDepth': find({ serviceName: 'frontend', searchDepth: 20 }),
  'findTraceIds: everything at once': find({
    serviceName: 'checkout',
    operationName: 'charge',
    attributes: { error: 'true', 'span.kind': 'server', 'resource.host.name': 'node-2', 'payment.method': 'card' },
    durationMin: 10_000_000n,
    durationMax: 30n * S,
    startTimeMin: T0 - 6n * HOUR,
    startTimeMax: T0,
    searchDepth: 50,
  }),
  'getTrace: first page': (n) => traceSpansRequest(n, TRACE, 10_000),
  'getTrace: next page': (n) => traceSpansRequest(n, TRACE, 10_000, undefined, ['1767261600000000000', 'docid-1']),
  'getTrace: several traces in one search': (n) => tracesRequest(n, [TRACE, TRACE2], 10_000),
  'getTrace: time hints': (n) => spanInRangeRequest(n, TRACE, T0 - HOUR, T0),
  'getTrace: start hint only': (n) => spanInRangeRequest(n, TRACE, T0 - HOUR, undefined),
  getServices: servicesRequest,
  'getOperations: service': (n) => operationsRequest(n, { service: 'frontend' }),
  'getOperations: service and span kind': (n) => operationsRequest(n, { service: 'frontend', spanKind: 'SERVER' }),
  'dependencies: trace IDs in the window': (n) => windowTraceIdsRequest(n, { start: T0 - DAY, end: T0 }, 10_000),
  'dependencies: trace IDs in the window, next page': (n) => windowTraceIdsRequest(n, { start: T0 - DAY, end: T0 }, 10_000, ['1767261600000000000', 'docid-9']),
  'dependencies: spans of a trace': (n) => traceSpansRequest(n, TRACE, 10_000, DEPENDENCY_FIELDS),
  'dependencies: stored links': (n) => storedDependenciesRequest(n, { start: T0 - DAY, end: T0 }),
  'dependencies: document written': (n) => dependenciesDoc(n, T0, [{ parent: 'frontend', child: 'checkout', callCount: 7 }]),
  'sampling: throughput in a window': (n) => throughputRequest(n, { start: T0 - HOUR, end: T0 }),
  'sampling: throughput document': (n) => throughputDoc(n, T0, [{ service: 'frontend', operation: 'GET /', count: 12, probabilities: [0.5] }]),
  'sampling: latest probabilities': latestProbabilitiesRequest,
  'sampling: probabilities document': (n) => probabilitiesDoc(n, 'replica-1', T0, { frontend: { 'GET /': 0.1 } }, { frontend: { 'GET /': 5 } }),
  'lock: document path': (n) => lockPath(n, 'adaptive/sampling'),
};

const LAYOUTS: Layout[] = ['daily', 'rollover', 'dataStream'];

/** JSON as it would be sent (undefined fields dropped) */
const asSent = (v: unknown): unknown => JSON.parse(JSON.stringify(v ?? null)) as unknown;

describe('search backend request bodies match the golden files', () => {
  for (const layout of LAYOUTS) {
    it(`${layout} layout`, () => {
      const names = new Names('golden', layout);
      const actual: Record<string, unknown> = {};
      for (const [name, build] of Object.entries(CASES)) actual[name] = asSent(build(names));
      const file = join(GOLDEN_DIR, `${layout}.json`);
      if (UPDATE) {
        mkdirSync(GOLDEN_DIR, { recursive: true });
        writeFileSync(file, `${JSON.stringify(actual, null, 2)}\n`);
      }
      if (!existsSync(file)) throw new Error(`${file} is missing: run this test with UPDATE_GOLDEN=1 to write it`);
      const golden = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
      // case by case, so a failure names the request that changed
      for (const name of Object.keys(CASES)) expect({ [name]: actual[name] }).toEqual({ [name]: golden[name] });
      expect(Object.keys(golden).sort()).toEqual(Object.keys(CASES).sort());
    });
  }
});
