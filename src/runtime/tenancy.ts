// Multi-tenancy as in Jaeger v2 (internal/tenancy): when enabled, every ingest and query request names its tenant
// in one header (gRPC: the same name, lowercased, as metadata), `x-tenant` by default. A request without it, with
// it twice, or naming a tenant outside the allow-list is refused before anything is read or written: HTTP 401, gRPC
// UNAUTHENTICATED (Jaeger answers PERMISSION_DENIED for an unknown tenant over gRPC; one code for every refusal keeps
// clients simple). An empty allow-list accepts any tenant, as Jaeger does. The tenant goes to the backend as the
// StorageContext of every call; disabled, every request is in the default tenant and no header is read.
import type { IncomingMessage } from 'node:http';
import type * as grpc from '@grpc/grpc-js';
import type { StorageContext } from '../storage/api/index.js';
import { RuntimeConfig } from '../api/runtime-config.js';

/** A request whose tenant is missing or not accepted: HTTP 401, gRPC UNAUTHENTICATED. */
export class TenantError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TenantError';
  }
}

const NO_TENANT: StorageContext = Object.freeze({});

export class Tenancy {
  readonly enabled: boolean;
  /** the header name, lowercased (as Node and gRPC metadata keep it) */
  readonly header: string;
  private readonly tenants?: ReadonlySet<string>;

  constructor(o: RuntimeConfig['tenancy'] = {}) {
    this.enabled = o.enabled ?? false;
    this.header = (o.header ?? 'x-tenant').toLowerCase();
    if (o.tenants?.length) this.tenants = new Set(o.tenants);
  }

  /** The context of a request that carried `values` in the tenant header; throws TenantError. */
  resolve(values: readonly unknown[] | undefined): StorageContext {
    if (!this.enabled) return NO_TENANT;
    const given = (values ?? []).filter((v): v is string => typeof v === 'string' && v !== '');
    if (given.length === 0) throw new TenantError(`missing tenant header ${this.header}`);
    if (given.length > 1) throw new TenantError(`extra tenant header ${this.header}: send exactly one`);
    const tenant = given[0]!;
    if (this.tenants && !this.tenants.has(tenant)) throw new TenantError(`unknown tenant in header ${this.header}`);
    return { tenant };
  }

  http(req: IncomingMessage): StorageContext {
    return this.enabled ? this.resolve(req.headersDistinct[this.header]) : NO_TENANT;
  }

  grpc(md: grpc.Metadata): StorageContext {
    return this.enabled ? this.resolve(md.get(this.header)) : NO_TENANT;
  }
}
