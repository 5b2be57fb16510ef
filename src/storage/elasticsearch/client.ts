// One request interface over the two official clients: @opensearch-project/opensearch for OpenSearch and
// @elastic/elasticsearch for Elasticsearch (which refuses to talk to OpenSearch). The server is identified first
// (GET /, or the node info where GET / is absent), then every request goes through the client made for it. Errors become StorageErrors whose messages
// say what to fix (credentials, address, version).
import { Client as OpenSearchClient } from '@opensearch-project/opensearch';
import { Client as ElasticClient } from '@elastic/elasticsearch';
import { StorageError, UnavailableError } from '../api/errors.js';

export interface ConnectionConfig {
  endpoints: string[];
  username?: string;
  password?: string;
  /** PEM CA bundle */
  ca?: string;
  insecureSkipVerify?: boolean;
  requestTimeoutMs?: number;
}

export interface ServerInfo {
  distribution: 'opensearch' | 'elasticsearch';
  version: string;
  major: number;
}

export interface RequestOptions {
  body?: unknown;
  /** NDJSON lines for _bulk and _msearch */
  lines?: unknown[];
  /** an NDJSON body already encoded, sent as it is */
  ndjson?: Buffer;
  query?: Record<string, string | number | boolean>;
  /** statuses returned instead of thrown */
  ignore?: number[];
  /** aborts the request; the call then rejects with the signal's reason */
  signal?: AbortSignal;
}

export interface Response<T> {
  status: number;
  body: T;
  /** response headers, names in lower case */
  headers?: Record<string, string | string[] | undefined>;
}

/** Raised for 401/403: the credentials are wrong (401) or lack a privilege (403). */
export class AuthError extends StorageError {
  constructor(
    message: string,
    readonly status: 401 | 403 = 401,
  ) {
    super('Unavailable', message);
    this.name = 'AuthError';
  }
}

/** Raised for a server version we do not support. */
export class UnsupportedVersionError extends StorageError {
  constructor(message: string) {
    super('Unavailable', message);
    this.name = 'UnsupportedVersionError';
  }
}

interface ClientError {
  meta?: { statusCode?: number; body?: unknown };
  statusCode?: number;
  body?: unknown;
  message?: string;
  name?: string;
}

/**
 * The action and the privileges that grant it, from Elasticsearch's 403 reason ("action [cluster:monitor/nodes/info]
 * is unauthorized for user [u] ..., this action is granted by the cluster privileges [monitor,manage,all]"). Only
 * tokens of the expected shapes are taken: the rest of what the server said stays out of messages.
 */
export function privilegeHint(reason: string): string {
  const action = /action \[([a-z_]+:[a-z_/*]{1,100})\]/.exec(reason)?.[1];
  const grant = /granted by the (cluster|index) privileges \[([a-z_,]{1,200})\]/.exec(reason);
  return `${action ? `, action ${action}` : ''}${grant ? `, granted by the ${grant[1]} privileges ${grant[2]!.split(',').join(', ')}` : ''}`;
}

/** what Node's TLS layer says when it cannot verify a server certificate */
const TLS_FAILURE = /certificate|self[- ]signed|CERT_|unable to get (local )?issuer/i;

type Send = (method: string, path: string, o: RequestOptions) => Promise<Response<unknown>>;

interface TransportParams {
  method: string;
  path: string;
  body?: Record<string, unknown>;
  bulkBody?: Record<string, unknown>[] | Buffer;
  querystring?: Record<string, string | number | boolean>;
}

function describe(e: ClientError): string {
  const body = e.meta?.body ?? e.body;
  const reason = (body as { error?: { reason?: string; type?: string } } | undefined)?.error;
  return reason?.reason ?? reason?.type ?? (typeof body === 'string' ? body.slice(0, 200) : (e.message ?? String(e)));
}

export class SearchClient {
  private send?: Send;
  info?: ServerInfo;
  private readonly closers: (() => Promise<void>)[] = [];

  constructor(private readonly cfg: ConnectionConfig) {}

  private auth() {
    return this.cfg.username !== undefined ? { username: this.cfg.username, password: this.cfg.password ?? '' } : undefined;
  }

  private tls() {
    return { ...(this.cfg.ca ? { ca: this.cfg.ca } : {}), rejectUnauthorized: !this.cfg.insecureSkipVerify };
  }

  /** The request parameters both clients take, and our error mapping around either client's transport. */
  private sender(
    request: (params: TransportParams, ignore: number[] | undefined, signal: AbortSignal | undefined) => Promise<{ statusCode?: number | null; body: unknown; headers?: Record<string, string | string[] | undefined> | null }>,
  ): Send {
    return async (method, path, o) => {
      const signal = o.signal;
      signal?.throwIfAborted();
      try {
        const r = await request(
          { method, path, ...(o.body !== undefined ? { body: o.body as Record<string, unknown> } : {}), ...(o.lines ? { bulkBody: o.lines as Record<string, unknown>[] } : o.ndjson ? { bulkBody: o.ndjson } : {}), ...(o.query ? { querystring: o.query } : {}) },
          o.ignore,
          signal,
        );
        return { status: r.statusCode ?? 0, body: r.body, ...(r.headers ? { headers: r.headers } : {}) };
      } catch (e) {
        // an aborted request is the caller's doing, not a server fault: it must not be retried or reported as one
        signal?.throwIfAborted();
        throw this.toStorageError(e as ClientError, method, path);
      }
    };
  }

  private openSearch(): Send {
    const auth = this.auth();
    const c = new OpenSearchClient({ nodes: this.cfg.endpoints, ...(auth ? { auth } : {}), ssl: this.tls(), requestTimeout: this.cfg.requestTimeoutMs ?? 30_000, maxRetries: 2 });
    this.closers.push(() => c.close());
    // this client takes no AbortSignal: the promise it returns has abort(), called when the signal fires
    return this.sender(async (params, ignore, signal) => {
      const pending = c.transport.request(params, { ignore });
      if (!signal) return pending;
      // returns nothing: EventTarget treats a listener's returned thenable (abort() returns the request) as async
      // and rethrows its rejection as an uncaught exception
      const abort = (): void => {
        pending.abort();
      };
      signal.addEventListener('abort', abort, { once: true });
      try {
        return await pending;
      } finally {
        signal.removeEventListener('abort', abort);
      }
    });
  }

  /**
   * The Elastic client for a server of this major. The client asks for the REST API of its own major (9) through
   * compatibility media types, which Elasticsearch 8 and 7 refuse ("Invalid media-type value"); their own API is
   * plain JSON, so older servers get plain JSON media types.
   */
  private elastic(major: number): Send {
    const auth = this.auth();
    const c = new ElasticClient({ nodes: this.cfg.endpoints, ...(auth ? { auth } : {}), tls: this.tls(), requestTimeout: this.cfg.requestTimeoutMs ?? 30_000, maxRetries: 2 });
    this.closers.push(() => c.close());
    const plain = major < 9;
    return this.sender((params, ignore, signal) =>
      c.transport.request(params, {
        ignore,
        meta: true,
        ...(signal ? { signal } : {}),
        ...(plain ? { headers: { accept: 'application/json', 'content-type': params.bulkBody ? 'application/x-ndjson' : 'application/json' } } : {}),
      }),
    );
  }

  private toStorageError(e: ClientError, method: string, path: string): StorageError {
    const status = e.meta?.statusCode ?? e.statusCode;
    const where = this.cfg.endpoints.join(', ');
    if (status === 401) {
      if (this.cfg.username === undefined) return new AuthError(`${where} requires credentials (401) and none are configured: set credentialsSecretRef`);
      return new AuthError(`${where} refused the credentials (401): check the user name and password in the credentials Secret`);
    }
    if (status === 403) return new AuthError(`${where} denied ${method} ${path} (403${privilegeHint(describe(e))}): give the user the privileges listed in the README (Elasticsearch and OpenSearch privileges)`, 403);
    if (status === undefined && TLS_FAILURE.test(e.message ?? '')) {
      return new UnavailableError(`cannot verify the TLS certificate of ${where} (${e.message}): set tls.caSecretRef to a Secret holding the CA that signed the server's certificate`);
    }
    if (status === undefined && /socket hang up|ECONNRESET|HPE_|parse error/i.test(e.message ?? '') && where.includes('http://')) {
      return new UnavailableError(`${where} closed the connection (${e.message}): if the server speaks HTTPS, use https:// endpoints`);
    }
    if (status === undefined || e.name === 'ConnectionError' || e.name === 'TimeoutError' || e.name === 'NoLivingConnectionsError') {
      return new UnavailableError(`cannot reach ${where}: ${e.message ?? e.name}; check spec.backend endpoints and that the server is up`);
    }
    const err = new StorageError(status === 429 || status >= 500 ? 'Unavailable' : 'Internal', `${method} ${path}: ${status} ${describe(e)}`);
    (err as StorageError & { status?: number }).status = status;
    return err;
  }

  /**
   * Identifies the server and picks the client for it. `GET /` names product and version on every OpenSearch and on
   * full Elasticsearch distributions; where that route is absent or refused by method (Elasticsearch without its
   * rest-root module answers 405), the local node's info gives the version and the `x-elastic-product` header, which
   * Elasticsearch sends on every response since 7.14, the product.
   */
  async connect(): Promise<ServerInfo> {
    if (this.info) return this.info;
    const probe = this.openSearch();
    const where = this.cfg.endpoints.join(', ');
    // only a missing route falls back to node info: any other refusal (400 security_exception, ...) is the answer
    const root = await probe('GET', '/', { ignore: [404, 405] });
    let identified = identifyRoot(root);
    if (!identified && root.status >= 400) {
      const node = await probe('GET', '/_nodes/_local', { query: { filter_path: 'nodes.*.version' }, ignore: [400, 404, 405] });
      identified = identifyNode(node);
      // neither route exists and nothing says Elasticsearch: a wrong path or host (an ingress default backend, ...)
      if (!identified && node.status >= 400 && !elasticProduct(node) && !elasticProduct(root)) {
        throw new UnavailableError(`GET / and GET /_nodes/_local at ${where} answered ${root.status} and ${node.status}: check the endpoint's host and path`);
      }
    }
    if (!identified) throw new UnsupportedVersionError(`the server at ${where} did not report a version: is it Elasticsearch or OpenSearch?`);
    const { distribution, version, major } = identified;
    const ok = distribution === 'opensearch' ? major >= 1 && major <= 3 : major >= 7 && major <= 9;
    if (!ok) throw new UnsupportedVersionError(`${distribution} ${version} is not supported: use Elasticsearch 7, 8 or 9, or OpenSearch 1, 2 or 3`);
    this.send = distribution === 'opensearch' ? probe : this.elastic(major);
    this.info = { distribution, version, major };
    return this.info;
  }

  async request<T>(method: string, path: string, o: RequestOptions = {}): Promise<Response<T>> {
    o.signal?.throwIfAborted();
    if (!this.send) await this.connect();
    return (await this.send!(method, path, o)) as Response<T>;
  }

  async close(): Promise<void> {
    await Promise.all(this.closers.map((c) => c().catch(() => undefined)));
  }
}

const elasticProduct = (r: Response<unknown>): boolean => {
  const h = r.headers?.['x-elastic-product'];
  return (Array.isArray(h) ? h[0] : h) === 'Elasticsearch';
};

function versionInfo(distribution: ServerInfo['distribution'], version: unknown): ServerInfo | undefined {
  if (typeof version !== 'string' || !/^\d+\.\d+/.test(version)) return undefined;
  return { distribution, version, major: Number(version.split('.')[0]) };
}

/** Product and version from `GET /`, when it answered with them. */
function identifyRoot(r: Response<unknown>): ServerInfo | undefined {
  if (r.status !== 200) return undefined;
  const v = (r.body as { version?: { number?: unknown; distribution?: unknown } } | undefined)?.version;
  return versionInfo(v?.distribution === 'opensearch' ? 'opensearch' : 'elasticsearch', v?.number);
}

/** Product and version from the local node's info: Elasticsearch only, recognised by its product header. */
function identifyNode(r: Response<unknown>): ServerInfo | undefined {
  if (r.status !== 200 || !elasticProduct(r)) return undefined;
  const nodes = (r.body as { nodes?: Record<string, { version?: unknown }> } | undefined)?.nodes;
  const first = nodes ? Object.values(nodes)[0] : undefined;
  return versionInfo('elasticsearch', first?.version);
}
