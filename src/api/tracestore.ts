import { SECRET_ALLOW_LABEL } from './contract.js';
import { boundedDuration, conditions, duration, durationSeconds, durationSecondsCel, objectName, secretKey, secretKeyRef, type Resource } from './common.js';
import { arr, bool, doc, enumOf, int, obj, quantity, str, stringMap, type CelRule, type Infer } from './schema.js';

const tls = obj(
  {
    enabled: bool({ description: 'use TLS to reach the backend: every endpoint must then be an https:// URL', default: false }),
    caSecretRef: secretKeyRef('Secret holding the CA bundle that signed the backend certificate', 'ca.crt'),
    insecureSkipVerify: bool({ description: 'skip certificate verification (testing only)', default: false }),
  },
  [],
  { description: 'TLS settings for the connection to the backend' },
);

const credentials = obj(
  {
    name: objectName(`name of the Secret in this namespace; the Secret must carry the label ${SECRET_ALLOW_LABEL}: "true"`),
    usernameKey: secretKey('key holding the user name', 'username'),
    passwordKey: secretKey('key holding the password', 'password'),
  },
  ['name'],
  { description: 'Secret with the backend credentials; never copied into status, logs or env values' },
);

/** The port of an http(s) URL as written ('' when none), for the CEL twins below. */
function urlPort(u: string): string {
  const authority = /^https?:\/\/([^/?#]*)/.exec(u)?.[1] ?? '';
  return /:([0-9]*)$/.exec(authority.replace(/^\[[^\]]*\]/, ''))?.[1] ?? '';
}

export const ENDPOINT_USERINFO = {
  rule: "!self.matches('^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*@')",
  message: 'must not contain user information (user:password@): put credentials in a Secret and reference it with credentialsSecretRef',
  check: (v: string): boolean => !/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*@/.test(v),
};

const httpEndpoint = str({
  pattern: '^https?://[^\\s/?#]+([/?#]\\S*)?$',
  patternHint: 'a URL such as https://opensearch.example:9200',
  maxLength: 2048,
  rules: [
    ENDPOINT_USERINFO,
    {
      rule: "!isURL(self) || url(self).getPort() == '' || (url(self).getPort().size() <= 5 && int(url(self).getPort()) >= 1 && int(url(self).getPort()) <= 65535)",
      message: 'the port must be from 1 to 65535',
      check: (v) => {
        const p = urlPort(v);
        return p === '' || (p.length <= 5 && Number(p) >= 1 && Number(p) <= 65535);
      },
    },
  ],
});

const httpEndpoints = arr(httpEndpoint, { minItems: 1, maxItems: 32, description: 'server URLs (http:// or https://, without user information)' });

const allowPlaintextCredentials = bool({
  description: 'send the credentials of credentialsSecretRef over http:// endpoints (unencrypted); refused unless true',
  default: false,
});

type TlsEndpoints = { endpoints?: string[]; tls?: { enabled?: boolean } };

/** tls.enabled means every endpoint is reached over TLS. */
const tlsMeansHttps: CelRule<TlsEndpoints> = {
  rule: "!has(self.tls) || !has(self.tls.enabled) || !self.tls.enabled || self.endpoints.all(e, e.startsWith('https://'))",
  message: 'tls.enabled is true: every endpoint must be an https:// URL',
  fieldPath: '.endpoints',
  check: (s) => !s.tls?.enabled || (s.endpoints ?? []).every((e) => e.startsWith('https://')),
};

/** a port from 1 to 65535, as a regular expression */
const PORT = '([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])';

const hostPorts = arr(str({ pattern: `^[^\\s:/\\[\\]]+(:${PORT})?$`, patternHint: 'host or host:port with a port from 1 to 65535 (IPv6 addresses: use a DNS name)', maxLength: 512 }), {
  minItems: 1,
  maxItems: 32,
  description: 'contact points as host or host:port',
});

const searchBackend = (product: string) =>
  obj(
    {
      endpoints: httpEndpoints,
      credentialsSecretRef: credentials,
      allowPlaintextCredentials,
      tls,
      indexPrefix: str({
        description: 'prefix of every index, alias and data stream name',
        maxLength: 64,
        pattern: '^[a-z0-9][a-z0-9_.-]*$',
        patternHint: 'lowercase letters, digits, "-", "_" and ".", starting with a letter or digit',
      }),
      layout: enumOf(['daily', 'rollover', 'dataStream'] as const, { description: 'index layout', default: 'daily' }),
      shards: int({ description: 'primary shards per index', minimum: 1, maximum: 1024, default: 5 }),
      replicas: int({ description: 'replicas per shard', minimum: 0, maximum: 16, default: 1 }),
      rolloverAfter: obj(
        {
          maxAge: duration('roll over when the write index is this old'),
          maxPrimaryShardSize: quantity({ description: 'roll over when a primary shard reaches this size' }),
        },
        [],
        { description: 'rollover conditions (layout rollover or dataStream)' },
      ),
    },
    ['endpoints'],
    { description: `${product} connection and index layout`, rules: [tlsMeansHttps] },
  );

const memory = obj(
  { maxTraces: int({ description: 'traces kept per tenant; the oldest are evicted first', minimum: 1, maximum: 100_000_000, default: 100_000 }) },
  [],
  { description: 'in-process store; data is lost when the pod restarts' },
);

/** A StatefulSet's volumeClaimTemplates cannot change: the volume's size and class are fixed once created. */
const embeddedVolumeImmutable: CelRule<{ size?: string; storageClassName?: string }> = {
  rule: 'self.size == oldSelf.size && has(self.storageClassName) == has(oldSelf.storageClassName) && (!has(self.storageClassName) || self.storageClassName == oldSelf.storageClassName)',
  message: 'size and storageClassName of the embedded volume are immutable (a StatefulSet volumeClaimTemplate): to grow the volume, expand its PersistentVolumeClaim (data-<name>-runtime-0) if its storage class allows it',
  reason: 'FieldValueForbidden',
  transition: true,
  check: (self, old) => old === undefined || (self.size === old.size && self.storageClassName === old.storageClassName),
};

const embedded = obj(
  {
    size: quantity({ description: 'size of the persistent volume (a PersistentVolumeClaim per store); immutable', default: '10Gi' }),
    storageClassName: str({ description: 'storage class of the volume (cluster default when empty); immutable', maxLength: 253 }),
  },
  [],
  { description: 'embedded persistent key-value store on a volume of the runtime pod (a one-replica StatefulSet)', rules: [embeddedVolumeImmutable] },
);

/** CQL's reserved words (Cassandra 5): not usable as an unquoted keyspace name */
export const CQL_RESERVED: readonly string[] = (
  'add aggregate allow alter and any apply asc authorize batch begin between by columnfamily create default delete desc describe drop ' +
  'entries execute from full function grant if in index infinity insert into is keyspace keyspaces limit materialized mbean mbeans modify ' +
  'nan norecursive not null of on or order primary rename replace revoke schema select set table to token truncate unlogged unset update ' +
  'use using view where with'
).split(' ');

/** the longest TTL Cassandra accepts, in seconds (20 years) */
export const CASSANDRA_MAX_TTL_SECONDS = 630_720_000;

/** the consistency levels the spec offers (not ANY: a write acknowledged at ANY may be on no replica) */
export const CASSANDRA_CONSISTENCY = ['LOCAL_QUORUM', 'QUORUM', 'LOCAL_ONE', 'ONE', 'TWO', 'THREE', 'EACH_QUORUM', 'ALL'] as const;

/** EACH_QUORUM is a write level only: Cassandra refuses reads at it. */
const readNotEachQuorum: CelRule<{ read?: string }> = {
  rule: "!has(self.read) || self.read != 'EACH_QUORUM'",
  message: 'EACH_QUORUM is a write consistency only: Cassandra refuses reads at it; use LOCAL_QUORUM or QUORUM',
  fieldPath: '.read',
  check: (s) => s.read !== 'EACH_QUORUM',
};

const cassandra = obj(
  {
    endpoints: hostPorts,
    credentialsSecretRef: credentials,
    allowPlaintextCredentials: bool({
      description: 'send the credentials of credentialsSecretRef without TLS (tls.enabled false: unencrypted); refused unless true',
      default: false,
    }),
    tls: obj(
      {
        enabled: bool({ description: 'reach the nodes over TLS (client-to-node encryption)', default: false }),
        caSecretRef: secretKeyRef('Secret holding the CA bundle that signed the node certificates (default: the system roots)', 'ca.crt'),
        serverName: str({ description: 'name expected in the node certificates (default: each node address)', maxLength: 253, pattern: '^[A-Za-z0-9.-]+$', patternHint: 'a DNS name' }),
        insecureSkipVerify: bool({ description: 'skip certificate verification (testing only; with credentials it needs allowPlaintextCredentials)', default: false }),
      },
      [],
      {
        description: 'TLS settings for the connection to the nodes',
        rules: [
          {
            rule: '(has(self.enabled) && self.enabled) || (!has(self.caSecretRef) && !has(self.serverName) && !(has(self.insecureSkipVerify) && self.insecureSkipVerify))',
            message: 'caSecretRef, serverName and insecureSkipVerify apply only with tls.enabled: true: set it, or remove them',
            check: (t: { enabled?: boolean; caSecretRef?: unknown; serverName?: string; insecureSkipVerify?: boolean }) => t.enabled === true || (t.caSecretRef === undefined && t.serverName === undefined && t.insecureSkipVerify !== true),
          },
        ],
      },
    ),
    keyspace: str({
      description: 'keyspace holding the tables; created by the operator, dropped with deletionPolicy Delete; an existing keyspace with tables of something else is refused',
      default: 'jaeger_storage',
      pattern: '^[a-z][a-z0-9_]{0,47}$',
      patternHint: 'lowercase letters, digits and "_", starting with a letter, at most 48 characters',
      rules: [
        { rule: "!self.startsWith('system')", message: 'names starting with "system" are Cassandra\'s own keyspaces: choose another keyspace', check: (v: string) => !v.startsWith('system') },
        { rule: `!(self in [${CQL_RESERVED.map((w) => `'${w}'`).join(', ')}])`, message: 'is a reserved word of CQL: choose another keyspace name', check: (v: string) => !CQL_RESERVED.includes(v) },
      ],
    }),
    datacenter: str({ description: 'local datacenter: the driver sends requests to its nodes; with NetworkTopologyStrategy the replicas live there', default: 'dc1', minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9_.-]+$', patternHint: 'letters, digits, "_", "." and "-"' }),
    replication: obj(
      {
        strategy: enumOf(['SimpleStrategy', 'NetworkTopologyStrategy'] as const, { description: 'replication strategy of the keyspace (NetworkTopologyStrategy: `factor` replicas in `datacenter`)', default: 'SimpleStrategy' }),
        factor: int({ description: 'replication factor', minimum: 1, maximum: 7, default: 1 }),
      },
      [],
      { description: 'keyspace replication, used when the keyspace is created' },
    ),
    consistency: obj(
      {
        read: enumOf(CASSANDRA_CONSISTENCY, { description: 'consistency level of reads', default: 'LOCAL_QUORUM' }),
        write: enumOf(CASSANDRA_CONSISTENCY, { description: 'consistency level of writes (ANY is not offered: a write acknowledged at ANY may be on no replica)', default: 'LOCAL_QUORUM' }),
      },
      [],
      { description: 'consistency levels', rules: [readNotEachQuorum] },
    ),
    compactionWindow: boundedDuration('TimeWindowCompactionStrategy window of the time-bucketed tables, rounded up to whole hours (default: derived from spec.retention, about 30 windows per retention)', '1h', '365d', '365 days'),
  },
  ['endpoints'],
  { description: 'Apache Cassandra connection and keyspace' },
);

const clickhouse = obj(
  {
    endpoints: httpEndpoints,
    credentialsSecretRef: credentials,
    allowPlaintextCredentials,
    tls,
    database: str({
      description: 'database holding the tables; created by the operator, dropped with deletionPolicy Delete; a database with tables of something else is refused',
      default: 'jaeger',
      pattern: '^[A-Za-z_][A-Za-z0-9_]{0,63}$',
      patternHint: 'letters, digits and "_"',
      rules: [{ rule: "!(self.lowerAscii() in ['system', 'information_schema'])", message: "is one of ClickHouse's own databases: choose another database", check: (v: string) => !['system', 'information_schema'].includes(v.toLowerCase()) }],
    }),
    cluster: str({ description: 'cluster name (remote_servers) for ON CLUSTER DDL, Replicated* engines and Distributed tables; empty: a single server', maxLength: 64, pattern: '^([A-Za-z_][A-Za-z0-9_]{0,63})?$', patternHint: 'letters, digits and "_"' }),
    partitionBy: enumOf(['day', 'hour'] as const, { description: 'partition granularity of the spans table', default: 'day' }),
    asyncInsert: bool({ description: 'send inserts as ClickHouse async inserts: the server joins small inserts into bigger parts; a write is still acknowledged only once the server flushed it', default: false }),
  },
  ['endpoints'],
  { description: 'ClickHouse connection and database', rules: [tlsMeansHttps] },
);

const grpcHostPort = (description: string) => str({ description, pattern: '^[^\\s:/]+:[0-9]{1,5}$', patternHint: 'host:port', maxLength: 512 });

const grpc = obj(
  {
    endpoint: grpcHostPort('host:port of a Jaeger remote-storage gRPC server (jaeger.storage.v2 TraceReader and DependencyReader)'),
    writerEndpoint: grpcHostPort('host:port of the OTLP/gRPC TraceService the remote storage takes writes on (default: endpoint)'),
    tls: obj(
      {
        enabled: bool({ description: 'reach the remote storage over TLS', default: false }),
        caSecretRef: secretKeyRef('Secret holding the CA bundle that signed the remote storage certificate (default: the system roots)', 'ca.crt'),
        serverName: str({ description: 'name expected in the server certificate (default: the endpoint host)', maxLength: 253, pattern: '^[A-Za-z0-9.-]+$', patternHint: 'a DNS name' }),
      },
      [],
      { description: 'TLS settings for the connection to the remote storage' },
    ),
    tokenSecretRef: secretKeyRef('Secret holding a bearer token sent as "authorization: Bearer <token>" metadata on every call; by reference only, never logged', 'token'),
    allowPlaintextCredentials: bool({ description: 'send the token of tokenSecretRef without TLS (unencrypted); refused unless true', default: false }),
    timeout: duration('deadline of each call to the remote storage', '5s'),
  },
  ['endpoint'],
  { description: 'a remote storage server speaking jaeger.storage.v2 (reads) and OTLP/gRPC (writes)' },
);

export const BACKEND_TYPES = ['memory', 'embedded', 'elasticsearch', 'opensearch', 'cassandra', 'clickhouse', 'grpc'] as const;
export type BackendType = (typeof BACKEND_TYPES)[number];

/**
 * Backends that keep tenants apart (StorageContext.tenant; the storage contract suite's `tenancy` capability). The
 * one list: the runtime refuses tenancy on any other backend, the TraceStore CRD rejects it.
 */
export const TENANCY_BACKENDS: readonly BackendType[] = ['memory', 'cassandra'];

/** Multi-tenancy as Jaeger v2 configures it; the same section in a TraceStore spec and in the runtime config. */
export const tenancy = obj(
  {
    enabled: bool({ description: `read the tenant of every ingest and query request from \`header\` and keep tenants apart in storage; needs a backend that supports it (${TENANCY_BACKENDS.join(', ')})`, default: false }),
    header: str({ description: 'HTTP header (gRPC: metadata key, lowercased) carrying the tenant', pattern: "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$", patternHint: 'an HTTP header name, e.g. x-tenant', minLength: 1, maxLength: 256, default: 'x-tenant' }),
    tenants: arr(str({ minLength: 1, maxLength: 256 }), { maxItems: 10_000, description: 'accepted tenants; any other is refused (401 / UNAUTHENTICATED). Empty: any tenant, as in Jaeger' }),
  },
  [],
  { description: 'multi-tenancy as in Jaeger (x-tenant): a request without a valid tenant is refused, each tenant sees only its own traces; sampling endpoints are not tenanted' },
);

const backendProps = {
  memory,
  embedded,
  elasticsearch: searchBackend('Elasticsearch'),
  opensearch: searchBackend('OpenSearch'),
  cassandra,
  clickhouse,
  grpc,
};
type BackendShape = { [K in BackendType]?: unknown };

const setBackends = (b: BackendShape | undefined): BackendType[] => BACKEND_TYPES.filter((t) => b?.[t] !== undefined && b?.[t] !== null);

const exactlyOneBackend: CelRule<BackendShape> = {
  rule: `[${BACKEND_TYPES.map((t) => `has(self.${t})`).join(', ')}].filter(x, x).size() == 1`,
  message: `exactly one backend must be set: one of spec.backend.${BACKEND_TYPES.join(', spec.backend.')}`,
  check: (self) => setBackends(self).length === 1,
};

const backendTypeImmutable: CelRule<BackendShape> = {
  rule: BACKEND_TYPES.map((t) => `has(self.${t}) == has(oldSelf.${t})`).join(' && '),
  message: 'the backend type is immutable: create a new TraceStore to move to another backend',
  reason: 'FieldValueForbidden',
  transition: true,
  check: (self, old) => old === undefined || setBackends(self).join() === setBackends(old).join(),
};

export const backend = obj(backendProps, [], { description: 'the storage backend: exactly one must be set', rules: [exactlyOneBackend, backendTypeImmutable] });

const computeResources = obj(
  {
    cpu: quantity({ description: 'CPU, e.g. 500m' }),
    memory: quantity({ description: 'memory, e.g. 512Mi' }),
  },
  [],
);

/** The runtime's listener groups, each with its own TLS, auth and NetworkPolicy peers. */
export const LISTENER_GROUPS = ['ingest', 'query', 'remoteStorage', 'sampling'] as const;
export type ListenerGroupName = (typeof LISTENER_GROUPS)[number];
const GROUP_PORTS_HINT = 'ingest: OTLP 4317/4318; query: 16686/16685; remoteStorage: 17271; sampling: 5778/5779';

const optedIn = `the Secret must carry the label ${SECRET_ALLOW_LABEL}: "true"`;

const listenerSecurity = obj(
  {
    tls: obj(
      {
        secretRef: obj({ name: objectName(`a kubernetes.io/tls Secret (tls.crt, tls.key; ca.crt for requireClientCert) in this namespace; ${optedIn}`) }, ['name'], {
          description: 'the certificate and key the listeners present; mounted as a volume and re-read by the runtime when the Secret changes',
        }),
        requireClientCert: bool({ description: 'mTLS: clients must present a certificate signed by the ca.crt of the Secret', default: false }),
      },
      ['secretRef'],
      { description: 'serve TLS (HTTPS, gRPC over TLS) instead of plaintext' },
    ),
    auth: obj(
      {
        tokenSecretRef: obj(
          {
            name: objectName(`name of the Secret in this namespace; ${optedIn}`),
            key: secretKey('key holding the accepted tokens, one per line (list two during a rotation)', 'token'),
          },
          ['name'],
          { description: 'Secret with the bearer tokens; mounted as a file, never an env value' },
        ),
      },
      ['tokenSecretRef'],
      { description: 'require "Authorization: Bearer <token>" (HTTP) or authorization metadata (gRPC); gRPC health checks stay open' },
    ),
  },
  [],
);

const labelSelector = (description: string) =>
  obj(
    {
      matchLabels: stringMap({ maxProperties: 64, description: 'labels an object must all carry' }),
      matchExpressions: arr(
        obj(
          {
            key: str({ minLength: 1, maxLength: 317, description: 'the label key' }),
            operator: enumOf(['In', 'NotIn', 'Exists', 'DoesNotExist'] as const, { description: 'how the label value relates to values' }),
            values: arr(str({ maxLength: 63 }), { maxItems: 64, description: 'label values (In, NotIn); empty for Exists and DoesNotExist' }),
          },
          ['key', 'operator'],
        ),
        { maxItems: 32, description: 'label requirements an object must all meet' },
      ),
    },
    [],
    { description },
  );

type PeerShape = { podSelector?: unknown; namespaceSelector?: unknown; ipBlock?: unknown };

const networkPolicyPeer = obj(
  {
    podSelector: labelSelector('pods (in this namespace, or in the namespaces of namespaceSelector); {} is every pod'),
    namespaceSelector: labelSelector('namespaces whose pods are allowed; {} is every namespace'),
    ipBlock: obj({ cidr: str({ description: 'e.g. 10.0.0.0/8', minLength: 1, maxLength: 64 }), except: arr(str({ minLength: 1, maxLength: 64 }), { maxItems: 32, description: 'CIDRs inside cidr that are not allowed' }) }, ['cidr'], {
      description: 'addresses (cluster-external clients; pod IPs are not stable)',
    }),
  },
  [],
  {
    description: 'a Kubernetes NetworkPolicyPeer',
    rules: [
      {
        rule: '(has(self.podSelector) || has(self.namespaceSelector)) != has(self.ipBlock)',
        message: 'set podSelector and/or namespaceSelector, or ipBlock alone',
        check: (p: PeerShape) => (p.podSelector !== undefined || p.namespaceSelector !== undefined) !== (p.ipBlock !== undefined),
      },
    ],
  },
);

const groupPeers = obj(
  { from: arr(networkPolicyPeer, { minItems: 1, maxItems: 32, description: 'who may connect; to allow any pod of the cluster write [{namespaceSelector: {}}]' }) },
  ['from'],
);

const networkPolicy = obj(
  {
    enabled: bool({ description: 'render a NetworkPolicy that admits each listener group only from its peers', default: false }),
    ingest: doc(groupPeers, 'who may send OTLP (4317, 4318)'),
    query: doc(groupPeers, 'who may query (16686, 16685)'),
    remoteStorage: doc(groupPeers, 'who may use remote storage (17271)'),
    sampling: doc(groupPeers, 'who may fetch sampling strategies (5778, 5779)'),
  },
  [],
  { description: `a NetworkPolicy for the runtime pods (${GROUP_PORTS_HINT}). A group left out is reachable only from pods of this namespace; the admin port 8888 (probes, /metrics) from anywhere; egress is not restricted` },
);

const runtime = obj(
  {
    replicas: int({ description: 'runtime pods', minimum: 0, maximum: 100, default: 1 }),
    image: str({ description: 'runtime image (default: the image this operator was released with)', maxLength: 512, pattern: '^[^\\s]+$', patternHint: 'an image reference without spaces' }),
    imagePullPolicy: enumOf(['Always', 'IfNotPresent', 'Never'] as const, { description: 'when the kubelet pulls the runtime image', default: 'IfNotPresent' }),
    resources: obj(
      { requests: doc(computeResources, 'what the scheduler reserves for each pod'), limits: doc(computeResources, 'the most each pod may use') },
      [],
      { description: 'CPU and memory of each runtime pod' },
    ),
    logLevel: enumOf(['debug', 'info', 'warn', 'error'] as const, { description: 'log level of the runtime', default: 'info' }),
    security: obj(
      {
        ingest: doc(listenerSecurity, 'TLS and auth of the OTLP receivers (4317 gRPC, 4318 HTTP)'),
        query: doc(listenerSecurity, 'TLS and auth of the Jaeger query APIs (16686 HTTP, 16685 gRPC)'),
        remoteStorage: doc(listenerSecurity, 'TLS and auth of the jaeger.storage.v2 remote storage gRPC server (17271)'),
        sampling: doc(listenerSecurity, 'TLS and auth of remote sampling (5778 HTTP, 5779 gRPC)'),
      },
      [],
      { description: `TLS and bearer-token auth per listener group (${GROUP_PORTS_HINT}). A group left out is plaintext and unauthenticated; the admin port 8888 always is` },
    ),
    networkPolicy,
  },
  [],
  { description: 'the runtime pods that serve this store' },
);

/** the stock Jaeger v2 image the query front runs unless spec.query.image says otherwise: the version its tests checked */
export const DEFAULT_QUERY_IMAGE = 'jaegertracing/jaeger:2.13.0';

const query = obj(
  {
    enabled: bool({ description: 'deploy Jaeger v2 (the stock image) as the query API and UI front of this store, reading through the runtime\'s remote storage port', default: false }),
    image: str({ description: `the Jaeger v2 image (default ${DEFAULT_QUERY_IMAGE}); any v2 release with the grpc storage backend serves`, maxLength: 512, pattern: '^[^\\s]+$', patternHint: 'an image reference without spaces' }),
    imagePullPolicy: enumOf(['Always', 'IfNotPresent', 'Never'] as const, { description: 'when the kubelet pulls the Jaeger image', default: 'IfNotPresent' }),
    replicas: int({ description: 'query front pods (stateless)', minimum: 0, maximum: 20, default: 1 }),
    resources: obj(
      { requests: doc(computeResources, 'what the scheduler reserves for each pod'), limits: doc(computeResources, 'the most each pod may use') },
      [],
      { description: 'CPU and memory of each query front pod' },
    ),
    serviceType: enumOf(['ClusterIP', 'NodePort', 'LoadBalancer'] as const, { description: 'type of the query front Service (<name>-query: 16686 UI and HTTP API, 16685 api_v3 gRPC)', default: 'ClusterIP' }),
    basePath: str({
      description: 'path prefix the UI and APIs are served under, e.g. /jaeger (Jaeger\'s base_path); empty: /',
      maxLength: 256,
      // a segment may not start with a dot: "." and ".." are refused by the API server in an Ingress path
      pattern: '^(/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)*$',
      patternHint: 'a path such as /jaeger or /tools/jaeger, without a trailing slash or segments starting with a dot',
    }),
    ingress: obj(
      {
        host: str({ description: 'the host name the UI is reached at, e.g. jaeger.example.com', minLength: 1, maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$', patternHint: 'a DNS name such as jaeger.example.com' }),
        className: str({ description: 'ingressClassName (default: the cluster\'s default IngressClass)', minLength: 1, maxLength: 253 }),
        annotations: stringMap({ maxProperties: 64, description: 'annotations for the Ingress (e.g. of the ingress controller or cert-manager)' }),
        tls: obj(
          { secretName: objectName('a kubernetes.io/tls Secret in this namespace, read by the ingress controller (not by this operator)') },
          ['secretName'],
          { description: 'serve https:// at host with this certificate' },
        ),
      },
      ['host'],
      { description: 'an Ingress (networking.k8s.io/v1) routing host + basePath to the query front' },
    ),
    remoteStorageToken: obj(
      {
        secretRef: obj(
          {
            name: objectName(`name of the Secret in this namespace; ${optedIn}`),
            key: secretKey('key holding one token the runtime accepts (one of the lines of spec.runtime.security.remoteStorage.auth.tokenSecretRef)', 'token'),
          },
          ['name'],
          { description: 'the Secret and key of the token' },
        ),
      },
      ['secretRef'],
      { description: 'the bearer token the front sends to the runtime; required when spec.runtime.security.remoteStorage.auth is set. Passed as env from secretKeyRef, never written into the configuration' },
    ),
    remoteStorageClientTls: obj(
      { secretRef: obj({ name: objectName(`a kubernetes.io/tls Secret (tls.crt, tls.key) in this namespace whose certificate the runtime's client CA signed, for client authentication; ${optedIn}`) }, ['name'], { description: 'the Secret of the client certificate' }) },
      ['secretRef'],
      { description: "the client certificate the front presents to the runtime; required when spec.runtime.security.remoteStorage.tls.requireClientCert is true (the runtime's own key pair is never handed to the front)" },
    ),
  },
  [],
  { description: 'the Jaeger UI and query APIs in front of this store: the operator deploys the stock Jaeger v2 image (Deployment, Service and optional Ingress <name>-query) with its grpc storage backend pointed at the runtime Service' },
);

const queryClientCertWhenMtls: CelRule<{ runtime?: { security?: { remoteStorage?: { tls?: { requireClientCert?: boolean } } } }; query?: { enabled?: boolean; remoteStorageClientTls?: unknown } }> = {
  rule: '!has(self.query) || !has(self.query.enabled) || !self.query.enabled || !has(self.runtime) || !has(self.runtime.security) || !has(self.runtime.security.remoteStorage) || !has(self.runtime.security.remoteStorage.tls) || !has(self.runtime.security.remoteStorage.tls.requireClientCert) || !self.runtime.security.remoteStorage.tls.requireClientCert || has(self.query.remoteStorageClientTls)',
  message: 'spec.query.remoteStorageClientTls is required: spec.runtime.security.remoteStorage.tls.requireClientCert makes the runtime ask the query front for a client certificate; reference a kubernetes.io/tls Secret whose certificate the runtime\'s client CA signed',
  fieldPath: '.query.remoteStorageClientTls',
  check: (s) => s.query?.enabled !== true || s.runtime?.security?.remoteStorage?.tls?.requireClientCert !== true || s.query.remoteStorageClientTls !== undefined,
};

const queryWithoutTenancy: CelRule<{ tenancy?: { enabled?: boolean }; query?: { enabled?: boolean } }> = {
  rule: '!has(self.query) || !has(self.query.enabled) || !self.query.enabled || !has(self.tenancy) || !has(self.tenancy.enabled) || !self.tenancy.enabled',
  message: 'spec.query cannot be enabled with spec.tenancy.enabled in this version: the query front would read without a tenant and be refused; query a tenanted store through its own query API with the tenant header',
  fieldPath: '.query.enabled',
  check: (s) => s.query?.enabled !== true || s.tenancy?.enabled !== true,
};

const queryTokenWhenAuth: CelRule<{ runtime?: { security?: { remoteStorage?: { auth?: unknown } } }; query?: { enabled?: boolean; remoteStorageToken?: unknown } }> = {
  rule: '!has(self.query) || !has(self.query.enabled) || !self.query.enabled || !has(self.runtime) || !has(self.runtime.security) || !has(self.runtime.security.remoteStorage) || !has(self.runtime.security.remoteStorage.auth) || has(self.query.remoteStorageToken)',
  message: 'spec.query.remoteStorageToken is required: spec.runtime.security.remoteStorage.auth makes the runtime ask the query front for a bearer token; reference a Secret holding one of the accepted tokens',
  fieldPath: '.query.remoteStorageToken',
  check: (s) => s.query?.enabled !== true || s.runtime?.security?.remoteStorage?.auth === undefined || s.query.remoteStorageToken !== undefined,
};

const singleReplicaBackends: CelRule<{ backend?: BackendShape; runtime?: { replicas?: number } }> = {
  rule: '!(has(self.backend.memory) || has(self.backend.embedded)) || !has(self.runtime) || !has(self.runtime.replicas) || self.runtime.replicas <= 1',
  message: 'spec.runtime.replicas must be 0 or 1 with the memory or embedded backend: each pod would hold its own data; use a shared backend to scale out',
  fieldPath: '.runtime.replicas',
  check: (s) => !(s.backend?.memory !== undefined || s.backend?.embedded !== undefined) || (s.runtime?.replicas ?? 1) <= 1,
};

const cassandraRetention: CelRule<{ backend?: BackendShape; retention?: string }> = {
  rule: `!has(self.backend.cassandra) || !has(self.retention) || !self.retention.findAll('[0-9]+').all(n, n.size() <= 11) || ${durationSecondsCel('self.retention')} <= ${CASSANDRA_MAX_TTL_SECONDS}`,
  message: "spec.retention is longer than Cassandra's longest TTL (20 years, 7300d) with the cassandra backend: shorten it",
  fieldPath: '.retention',
  check: (s) => s.backend?.cassandra === undefined || s.backend.cassandra === null || s.retention === undefined || (durationSeconds(s.retention) ?? 0) <= CASSANDRA_MAX_TTL_SECONDS,
};

const tenancyNeedsSupport: CelRule<{ backend?: BackendShape; tenancy?: { enabled?: boolean } }> = {
  rule: `!has(self.tenancy) || !has(self.tenancy.enabled) || !self.tenancy.enabled || ${TENANCY_BACKENDS.map((t) => `has(self.backend.${t})`).join(' || ')}`,
  message: `spec.tenancy.enabled needs a backend that keeps tenants apart: ${TENANCY_BACKENDS.map((t) => `spec.backend.${t}`).join(', ')}`,
  fieldPath: '.tenancy.enabled',
  check: (s) => s.tenancy?.enabled !== true || TENANCY_BACKENDS.some((t) => s.backend?.[t] !== undefined && s.backend?.[t] !== null),
};

export const traceStoreSpec = obj(
  {
    backend,
    tenancy,
    retention: boundedDuration('how long traces are kept; mapped to TTLs, lifecycle policies or index cleanup', '1m', '5218w', '100 years (5218w)'),
    runtime,
    query,
    deletionPolicy: enumOf(['Retain', 'Delete'] as const, {
      description: 'Delete drops the stored data when the TraceStore is deleted (retried for 10 minutes, 1 minute once a referenced Secret is gone, as in a namespace deletion; not when another TraceStore uses the same data, e.g. the same index prefix on the same cluster; a Warning event says when data is kept); Retain keeps it',
      default: 'Retain',
    }),
  },
  ['backend'],
  { description: 'the desired store: its backend, retention, runtime pods and what happens to the data on deletion', rules: [singleReplicaBackends, tenancyNeedsSupport, cassandraRetention, queryTokenWhenAuth, queryClientCertWhenMtls, queryWithoutTenancy] },
);

const endpoint = (d: string) => str({ description: d });

export const traceStoreStatus = obj(
  {
    observedGeneration: int({ minimum: 0, description: 'the .metadata.generation the status reflects' }),
    conditions,
    backend: enumOf(BACKEND_TYPES, { description: 'the backend type in use' }),
    configHash: str({ description: 'hash of the runtime configuration the pods run' }),
    schemaVersion: str({ description: 'version of the backend schema provisioned' }),
    replicas: int({ minimum: 0, description: 'runtime pods wanted' }),
    readyReplicas: int({ minimum: 0, description: 'runtime pods ready' }),
    endpoints: obj({
      otlpGrpc: endpoint('OTLP/gRPC receiver'),
      otlpHttp: endpoint('OTLP/HTTP receiver'),
      query: endpoint('Jaeger query HTTP API (classic /api and /api/v3)'),
      queryGrpc: endpoint('Jaeger api_v3 gRPC'),
      remoteStorage: endpoint('jaeger.storage.v2 remote storage gRPC'),
      sampling: endpoint('remote sampling HTTP'),
      samplingGrpc: endpoint('remote sampling gRPC'),
      ui: endpoint('the Jaeger UI of the query front (spec.query), in the cluster'),
      uiExternal: endpoint('the Jaeger UI through the Ingress of spec.query.ingress'),
    }, [], { description: 'addresses of the runtime Service, one per API, and of the query front when spec.query is enabled' }),
  },
  [],
  { description: 'what the operator observed: conditions (Ready sums them up), runtime pods and endpoints' },
);

export type TraceStoreSpec = Infer<typeof traceStoreSpec>;
export type TraceStoreStatus = Infer<typeof traceStoreStatus>;
export type TraceStore = Resource<TraceStoreSpec, TraceStoreStatus>;
export type BackendSpec = Infer<typeof backend>;

export function backendTypeOf(b: BackendSpec | undefined): BackendType | undefined {
  const set = setBackends(b as BackendShape | undefined);
  return set.length === 1 ? set[0] : undefined;
}

/** The runtime Service is named `<name>-runtime`: the name must make a DNS-1035 label of at most 63 characters. */
export const TRACESTORE_NAME = {
  rule: "self.metadata.name.size() <= 55 && self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",
  fieldPath: '.metadata.name',
  message: 'metadata.name must start with a letter, contain only lowercase letters, digits and "-", and be at most 55 characters (it names the runtime Service)',
  check: (name: string): boolean => name.length <= 55 && /^[a-z]([-a-z0-9]*[a-z0-9])?$/.test(name),
};
