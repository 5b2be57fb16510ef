// A thin JSON client for the Kubernetes API on top of @kubernetes/client-node's KubeConfig (which resolves
// kubeconfig files, in-cluster service accounts, client certificates, tokens and exec plugins).
// We issue requests ourselves so that every call is counted by verb and resource, server-side apply sends the
// right content type, and each watch has its own connection that can be cut and restarted independently.
import type { ObjectMeta } from '../api/common.js';
import * as http from 'node:http';
import * as https from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';
import type { Counter } from 'prom-client';
import type { ResourceRef } from '../api/resources.js';

// declared with the resource table in api/resources.ts (plain data); re-exported for the kube layer's callers
export { type ResourceRef, apiVersionOf, res } from '../api/resources.js';

export function resourcePath(r: ResourceRef, namespace?: string, name?: string, subresource?: string): string {
  let p = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
  if (r.namespaced && namespace) p += `/namespaces/${encodeURIComponent(namespace)}`;
  p += `/${r.plural}`;
  if (name) p += `/${encodeURIComponent(name)}`;
  if (subresource) p += `/${subresource}`;
  return p;
}

/** An error answer of the API server, with its HTTP code and the Status reason (NotFound, Conflict, Gone, ...). */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const isNotFound = (e: unknown): boolean => e instanceof ApiError && e.code === 404;
export const isConflict = (e: unknown): boolean => e instanceof ApiError && e.code === 409;
export const isGone = (e: unknown): boolean => e instanceof ApiError && e.code === 410;

export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  contentType?: string;
  /** Accept header (default application/json), e.g. PartialObjectMetadata to read metadata only */
  accept?: string;
  signal?: AbortSignal;
  timeoutMs?: number;
}

const WRITE_VERBS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

function resourceOfPath(path: string): { resource: string; named: boolean } {
  // /api/v1/namespaces/x/configmaps/y -> configmaps ; /apis/g/v/namespaces/x/tracestores/y/status -> tracestores/status
  const parts = path.split('?')[0]!.split('/').filter(Boolean);
  const start = parts[0] === 'api' ? 2 : 3;
  let rest = parts.slice(start);
  if (rest[0] === 'namespaces' && rest.length > 2) rest = rest.slice(2);
  const sub = rest.length >= 3 ? `/${rest[2]}` : '';
  return { resource: (rest[0] ?? 'unknown') + sub, named: rest.length >= 2 };
}

export interface ClientStats {
  /** every GET, LIST and WATCH */
  reads: number;
  /** GETs of a single object (what a reconcile would do if it did not read from caches) */
  gets: number;
  writes: number;
  /** requests by "VERB resource", where LIST is a GET of a collection */
  byKey: Map<string, number>;
}

export class KubeClient {
  readonly stats: ClientStats = { reads: 0, gets: 0, writes: 0, byKey: new Map() };
  private readonly agent: https.Agent | http.Agent;

  private constructor(
    readonly kc: KubeConfig,
    private readonly server: URL,
    private readonly userAgent: string,
    private readonly requestCounter?: Counter<'verb' | 'resource' | 'code'>,
  ) {
    this.agent = server.protocol === 'https:' ? new https.Agent({ keepAlive: true, maxSockets: 32 }) : new http.Agent({ keepAlive: true, maxSockets: 32 });
  }

  static fromKubeConfig(kc: KubeConfig, opts: { userAgent?: string; requestCounter?: Counter<'verb' | 'resource' | 'code'> } = {}): KubeClient {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('the kubeconfig has no current cluster: set a context with `kubectl config use-context`');
    return new KubeClient(kc, new URL(cluster.server), opts.userAgent ?? 'jaeger-storage-operator', opts.requestCounter);
  }

  /** Loads $KUBECONFIG / ~/.kube/config, or the in-cluster service account. */
  static load(path?: string, opts: { userAgent?: string; requestCounter?: Counter<'verb' | 'resource' | 'code'> } = {}): KubeClient {
    const kc = new KubeConfig();
    if (path) kc.loadFromFile(path);
    else kc.loadFromDefault();
    return KubeClient.fromKubeConfig(kc, opts);
  }

  get serverUrl(): string {
    return this.server.toString();
  }

  private count(method: string, path: string, code: number): void {
    const { resource, named } = resourceOfPath(path);
    const verb = method === 'GET' && !named ? 'LIST' : method;
    if (WRITE_VERBS.has(method)) this.stats.writes++;
    else this.stats.reads++;
    if (verb === 'GET') this.stats.gets++;
    const k = `${verb} ${resource}`;
    this.stats.byKey.set(k, (this.stats.byKey.get(k) ?? 0) + 1);
    this.requestCounter?.inc({ verb, resource, code: String(code) });
  }

  private async options(method: string, path: string, o: RequestOptions, agent: http.Agent | https.Agent): Promise<https.RequestOptions> {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(o.query ?? {})) if (v !== undefined) qs.set(k, String(v));
    const headers: Record<string, string> = { Accept: o.accept ?? 'application/json', 'User-Agent': this.userAgent };
    if (o.body !== undefined) headers['Content-Type'] = o.contentType ?? 'application/json';
    const opts: https.RequestOptions = {
      method,
      protocol: this.server.protocol,
      hostname: this.server.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: this.server.port || (this.server.protocol === 'https:' ? 443 : 80),
      path: this.server.pathname.replace(/\/$/, '') + path + (qs.size ? `?${qs}` : ''),
      headers,
      agent,
    };
    await this.kc.applyToHTTPSOptions(opts);
    return opts;
  }

  async request<T>(method: string, path: string, o: RequestOptions = {}): Promise<T> {
    const opts = await this.options(method, path, o, this.agent);
    const payload = o.body === undefined ? undefined : typeof o.body === 'string' ? o.body : JSON.stringify(o.body);
    const lib = this.server.protocol === 'https:' ? https : http;
    return new Promise<T>((resolve, reject) => {
      const req = lib.request({ ...opts, signal: o.signal, timeout: o.timeoutMs ?? 30_000 }, (resp) => {
        const chunks: Buffer[] = [];
        resp.on('data', (c: Buffer) => chunks.push(c));
        resp.on('error', reject);
        resp.on('end', () => {
          const code = resp.statusCode ?? 0;
          this.count(method, path, code);
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = undefined;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            parsed = text;
          }
          if (code >= 200 && code < 300) return resolve(parsed as T);
          const st = (parsed ?? {}) as { reason?: string; message?: string; details?: unknown };
          reject(new ApiError(code, st.reason ?? `HTTP${code}`, `${method} ${path}: ${code} ${st.message ?? text.slice(0, 300)}`, st.details));
        });
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
      req.on('error', (e) => {
        this.count(method, path, 0);
        reject(e);
      });
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  get<T>(path: string, query?: Query): Promise<T> {
    return this.request<T>('GET', path, { query });
  }

  /** Metadata only (PartialObjectMetadata): for objects whose content we must not read, such as Secrets. */
  getMetadata(path: string): Promise<{ metadata: ObjectMeta }> {
    return this.request('GET', path, { accept: 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1' });
  }

  /** Server-side apply with our field manager; force takes ownership of the fields we set. */
  apply<T>(path: string, obj: unknown, fieldManager: string, force = true): Promise<T> {
    return this.request<T>('PATCH', path, {
      query: { fieldManager, force },
      body: obj,
      contentType: 'application/apply-patch+yaml',
    });
  }

  /**
   * Opens a watch and calls onEvent for each event line. Resolves when the server ends the stream (timeoutSeconds),
   * rejects when the connection fails or is cut. Abort through `signal`. Each watch uses its own connection.
   */
  async watch<T>(path: string, query: Query, onEvent: (e: WatchEvent<T>) => void, signal: AbortSignal): Promise<void> {
    const agent = this.server.protocol === 'https:' ? new https.Agent({ keepAlive: false }) : new http.Agent({ keepAlive: false });
    const opts = await this.options('GET', path, { query: { ...query, watch: true } }, agent);
    const lib = this.server.protocol === 'https:' ? https : http;
    try {
      await new Promise<void>((resolve, reject) => {
        const req = lib.request({ ...opts, signal }, (resp) => {
          const code = resp.statusCode ?? 0;
          this.count('WATCH', path, code);
          if (code !== 200) {
            const chunks: Buffer[] = [];
            resp.on('data', (c: Buffer) => chunks.push(c));
            resp.on('end', () => {
              let st: { reason?: string; message?: string } = {};
              try {
                st = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof st;
              } catch {
                /* not a Status */
              }
              reject(new ApiError(code, st.reason ?? `HTTP${code}`, `watch ${path}: ${code} ${st.message ?? ''}`));
            });
            return;
          }
          let buf = '';
          resp.setEncoding('utf8');
          resp.on('data', (chunk: string) => {
            buf += chunk;
            let nl: number;
            while ((nl = buf.indexOf('\n')) >= 0) {
              const line = buf.slice(0, nl).trim();
              buf = buf.slice(nl + 1);
              if (!line) continue;
              try {
                onEvent(JSON.parse(line) as WatchEvent<T>);
              } catch (e) {
                req.destroy(e instanceof Error ? e : new Error(String(e)));
                return;
              }
            }
          });
          resp.on('end', () => resolve());
          resp.on('aborted', () => reject(new Error(`watch ${path}: connection aborted`)));
          resp.on('error', reject);
        });
        req.on('error', reject);
        req.end();
      });
    } finally {
      agent.destroy();
    }
  }

  close(): void {
    this.agent.destroy();
  }
}
