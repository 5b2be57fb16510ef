// List+watch cache that never gives up: a 410 (resourceVersion too old) relists at once; any other error
// (connection cut, apiserver restart, bad gateway, parse error) backs off and relists. Handlers see a diff on
// every relist, so nothing that changed while disconnected is missed.
import type { Logger } from 'pino';
import type { ObjectMeta } from '../api/common.js';
import { ApiError, type KubeClient, type ResourceRef, type WatchEvent, isGone, resourcePath } from './client.js';

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
}

export const keyOf = (o: { metadata: { name: string; namespace?: string } }): string =>
  o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;

export interface InformerHandlers<T> {
  add?(obj: T): void;
  update?(oldObj: T, newObj: T): void;
  delete?(obj: T): void;
}

export interface InformerOptions {
  namespace?: string;
  labelSelector?: string;
  /** bounds for the backoff after errors */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  onRestart?: (reason: string) => void;
}

interface ListResponse<T> {
  metadata: { resourceVersion: string; continue?: string };
  items: T[];
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });

export class Informer<T extends KubeObject> {
  private readonly store = new Map<string, T>();
  private readonly handlers: InformerHandlers<T>[] = [];
  private readonly stopCtl = new AbortController();
  private watchCtl?: AbortController;
  private synced = false;
  private syncWaiters: (() => void)[] = [];
  private running?: Promise<void>;
  /** number of times the list+watch was started again after an error */
  restarts = 0;

  constructor(
    private readonly client: KubeClient,
    readonly resource: ResourceRef,
    private readonly log: Logger,
    private readonly opts: InformerOptions = {},
  ) {}

  on(h: InformerHandlers<T>): void {
    this.handlers.push(h);
  }

  get(key: string): T | undefined {
    return this.store.get(key);
  }

  list(): T[] {
    return [...this.store.values()];
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  waitForSync(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((r) => this.syncWaiters.push(r));
  }

  start(): void {
    this.running ??= this.loop();
  }

  async stop(): Promise<void> {
    this.stopCtl.abort();
    this.watchCtl?.abort();
    await this.running;
  }

  /** Cuts the current watch connection (used by operators of the process, e.g. on SIGHUP, and by tests). */
  cutWatch(): void {
    this.watchCtl?.abort();
  }

  private emit<K extends keyof InformerHandlers<T>>(kind: K, ...args: Parameters<NonNullable<InformerHandlers<T>[K]>>): void {
    for (const h of this.handlers) {
      try {
        (h[kind] as ((...a: typeof args) => void) | undefined)?.(...args);
      } catch (e) {
        this.log.error({ err: e, resource: this.resource.plural }, 'informer handler failed');
      }
    }
  }

  private async listAll(): Promise<string> {
    const path = resourcePath(this.resource, this.opts.namespace);
    const fresh = new Map<string, T>();
    let cont: string | undefined;
    let rv = '';
    do {
      const page = await this.client.get<ListResponse<T>>(path, { labelSelector: this.opts.labelSelector, limit: 500, continue: cont });
      for (const item of page.items) {
        // list items carry no apiVersion/kind; restore them for consumers
        item.apiVersion ??= this.resource.group ? `${this.resource.group}/${this.resource.version}` : this.resource.version;
        item.kind ??= this.resource.kind;
        fresh.set(keyOf(item), item);
      }
      cont = page.metadata.continue || undefined;
      rv = page.metadata.resourceVersion;
    } while (cont);
    // replace the store and tell handlers what changed since the last view
    for (const [k, old] of this.store) {
      if (!fresh.has(k)) {
        this.store.delete(k);
        this.emit('delete', old);
      }
    }
    for (const [k, obj] of fresh) {
      const old = this.store.get(k);
      this.store.set(k, obj);
      if (!old) this.emit('add', obj);
      else if (old.metadata.resourceVersion !== obj.metadata.resourceVersion) this.emit('update', old, obj);
    }
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
    return rv;
  }

  private apply(ev: WatchEvent<T>): string | undefined {
    const obj = ev.object;
    if (ev.type === 'ERROR') {
      const st = obj as unknown as { code?: number; reason?: string; message?: string };
      throw new ApiError(st.code ?? 500, st.reason ?? 'WatchError', st.message ?? 'watch error');
    }
    if (ev.type === 'BOOKMARK') return obj.metadata.resourceVersion;
    const k = keyOf(obj);
    const old = this.store.get(k);
    if (ev.type === 'DELETED') {
      this.store.delete(k);
      this.emit('delete', obj);
    } else {
      this.store.set(k, obj);
      if (old) this.emit('update', old, obj);
      else this.emit('add', obj);
    }
    return obj.metadata.resourceVersion;
  }

  private async loop(): Promise<void> {
    const minB = this.opts.minBackoffMs ?? 200;
    const maxB = this.opts.maxBackoffMs ?? 30_000;
    let backoff = minB;
    let rv: string | undefined;
    const signal = this.stopCtl.signal;
    while (!signal.aborted) {
      try {
        if (rv === undefined) rv = await this.listAll();
        this.watchCtl = new AbortController();
        const stopWatch = (): void => this.watchCtl?.abort();
        signal.addEventListener('abort', stopWatch, { once: true });
        const path = resourcePath(this.resource, this.opts.namespace);
        try {
          await this.client.watch<T>(
            path,
            {
              resourceVersion: rv,
              allowWatchBookmarks: true,
              labelSelector: this.opts.labelSelector,
              // the server closes the watch after this long; we resume from the last resourceVersion
              timeoutSeconds: 240 + Math.floor(Math.random() * 120),
            },
            (ev) => {
              const next = this.apply(ev);
              if (next) rv = next;
              backoff = minB; // events flowing: the connection is healthy
            },
            this.watchCtl.signal,
          );
        } finally {
          signal.removeEventListener('abort', stopWatch);
        }
        // normal end of a watch (server timeout): resume from the last version without relisting
      } catch (e) {
        if (signal.aborted) break;
        if (isGone(e)) {
          this.log.info({ resource: this.resource.plural }, 'watch resourceVersion expired: relisting');
          rv = undefined;
          this.restarts++;
          this.opts.onRestart?.('expired');
          continue;
        }
        const cut = this.watchCtl?.signal.aborted;
        this.restarts++;
        this.opts.onRestart?.(cut ? 'cut' : 'error');
        this.log.warn({ resource: this.resource.plural, err: e instanceof Error ? e.message : String(e), retryInMs: backoff }, 'list/watch failed: restarting');
        rv = undefined; // relist: we cannot know what we missed
        await sleep(backoff * (0.8 + Math.random() * 0.4), signal);
        backoff = Math.min(maxB, backoff * 2);
      }
    }
  }
}

/** What controllers read: one informer, or one per watched namespace behind the same face. */
export interface Cache<T extends KubeObject> {
  readonly resource: ResourceRef;
  on(h: InformerHandlers<T>): void;
  get(key: string): T | undefined;
  list(): T[];
  readonly hasSynced: boolean;
  waitForSync(): Promise<void>;
  start(): void;
  stop(): Promise<void>;
}

/**
 * One informer per namespace, so an operator limited to some namespaces needs list/watch only there (a
 * namespaced Role per watched namespace instead of a ClusterRole).
 */
export class NamespacedInformers<T extends KubeObject> implements Cache<T> {
  constructor(
    readonly resource: ResourceRef,
    private readonly parts: ReadonlyMap<string, Informer<T>>,
  ) {}

  on(h: InformerHandlers<T>): void {
    for (const i of this.parts.values()) i.on(h);
  }

  get(key: string): T | undefined {
    return this.parts.get(key.slice(0, Math.max(0, key.indexOf('/'))))?.get(key);
  }

  list(): T[] {
    return [...this.parts.values()].flatMap((i) => i.list());
  }

  get hasSynced(): boolean {
    return [...this.parts.values()].every((i) => i.hasSynced);
  }

  async waitForSync(): Promise<void> {
    await Promise.all([...this.parts.values()].map((i) => i.waitForSync()));
  }

  start(): void {
    for (const i of this.parts.values()) i.start();
  }

  async stop(): Promise<void> {
    await Promise.all([...this.parts.values()].map((i) => i.stop()));
  }
}
