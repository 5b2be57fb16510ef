// TLS and bearer-token authentication of the runtime's listener groups (config `security.<group>`). Without a
// group's section its listeners stay as they were: plaintext and unauthenticated. Certificates, keys, client CAs
// and token files are read at start (a missing or bad file stops the runtime with the file named) and re-read
// every `reloadIntervalMs`, so a rotated Secret volume (cert-manager, token rotation) takes effect without a
// restart; a file that cannot be read at a reload keeps the last good contents and is logged.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { createServer as createHttpServer, type IncomingMessage, type RequestListener, type Server, type ServerOptions, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { type Http2SecureServer, type Http2Server, type IncomingHttpHeaders, type ServerOptions as Http2ServerOptions, createSecureServer as createHttp2SecureServer, createServer as createHttp2Server } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { ListenerGroup, RuntimeConfig } from '../api/runtime-config.js';

export type GroupSecurityConfig = NonNullable<NonNullable<RuntimeConfig['security']>[ListenerGroup]>;

/** Creates an HTTP server for one listener group: node:http, or node:https when the group has TLS; auth wrapped in. */
export type HttpServerFactory = (options: ServerOptions, handler: RequestListener) => Server;

/** An HTTP/2 listener of a group served without grpc-js: its server (TLS when configured) and its token check. */
export interface Http2Listener {
  create(options: Http2ServerOptions): Http2Server | Http2SecureServer;
  /** why a request with these headers is refused (the gRPC status message), or undefined when it may go on */
  refusal(headers: IncomingHttpHeaders): string | undefined;
}

/** gRPC methods answered without a token (probes and load balancers check health without credentials). */
export const OPEN_GRPC_METHODS: readonly string[] = ['/grpc.health.v1.Health/Check', '/grpc.health.v1.Health/Watch'];

export const DEFAULT_RELOAD_MS = 10_000;

// what a gRPC client refused for its token is told
const TOKEN_NOT_VALID = 'the bearer token is not valid';
const TOKEN_MISSING = 'authentication required: send "authorization: Bearer <token>" metadata';

const sha = (b: Buffer | string): Buffer => createHash('sha256').update(b).digest();

/** Tokens of a token file: one per line, surrounding whitespace and blank lines ignored. */
export function parseTokens(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
}

/**
 * Constant-time check of a presented token against every accepted one: both sides are hashed to equal length
 * first, and every accepted token is compared (no early exit), so timing tells neither the token nor which matched.
 */
export function tokenMatches(presented: string | undefined, accepted: readonly Buffer[]): boolean {
  if (presented === undefined) return false;
  const h = sha(presented);
  let ok = false;
  for (const a of accepted) ok = timingSafeEqual(h, a) || ok;
  return ok;
}

/** The token of an `Authorization: Bearer <token>` value (scheme case-insensitive), or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  const m = /^\s*bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return m?.[1];
}

/** A set of files read now and re-read on an interval; `onChange` runs after a change was read successfully. */
class WatchedFiles {
  private contents: Buffer[];
  private readonly listeners: (() => void)[] = [];

  constructor(
    readonly files: string[],
    private readonly what: string,
    private readonly log: Logger,
    /** throws when the contents do not go together (e.g. a key that does not match the certificate) */
    private readonly validate: (contents: Buffer[]) => void = () => undefined,
  ) {
    this.contents = files.map((f) => WatchedFiles.read(f, what));
    try {
      validate(this.contents);
    } catch (e) {
      throw new Error(`${what}: ${files.join(', ')}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  static read(file: string, what: string): Buffer {
    try {
      return readFileSync(file);
    } catch (e) {
      throw new Error(`${what}: cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  get(i: number): Buffer {
    return this.contents[i]!;
  }

  onChange(fn: () => void): void {
    this.listeners.push(fn);
  }

  check(): void {
    let next: Buffer[];
    try {
      next = this.files.map((f) => WatchedFiles.read(f, this.what));
    } catch (e) {
      this.log.error({ err: e instanceof Error ? e.message : String(e) }, 'cannot re-read a security file; keeping the last good one');
      return;
    }
    if (next.every((b, i) => b.equals(this.contents[i]!))) return;
    try {
      // a rotation caught half-way (new certificate, old key) is retried at the next check
      this.validate(next);
    } catch (e) {
      this.log.warn({ err: e instanceof Error ? e.message : String(e), files: this.files }, `${this.what}: the changed files do not go together yet; keeping the last good ones`);
      return;
    }
    const before = this.contents;
    this.contents = next;
    try {
      for (const l of this.listeners) l();
      this.log.info({ files: this.files }, `${this.what}: reloaded`);
    } catch (e) {
      this.contents = before;
      this.log.error({ err: e instanceof Error ? e.message : String(e) }, `${this.what}: the new files were refused; keeping the last good ones`);
    }
  }
}

/** gRPC certificate provider over WatchedFiles: delivers the current files at once, then every reload. */
class FilesCertificateProvider implements grpc.experimental.CertificateProvider {
  private readonly ca = new Set<grpc.experimental.CaCertificateUpdateListener>();
  private readonly identity = new Set<grpc.experimental.IdentityCertificateUpdateListener>();

  constructor(
    private readonly files: WatchedFiles,
    private readonly caIndex: number | undefined,
  ) {
    files.onChange(() => {
      for (const l of this.identity) l(this.identityUpdate());
      for (const l of this.ca) l(this.caUpdate());
    });
  }

  private identityUpdate(): grpc.experimental.IdentityCertificateUpdate {
    return { certificate: this.files.get(0), privateKey: this.files.get(1) };
  }

  private caUpdate(): grpc.experimental.CaCertificateUpdate | null {
    return this.caIndex === undefined ? null : { caCertificate: this.files.get(this.caIndex) };
  }

  addCaCertificateListener(l: grpc.experimental.CaCertificateUpdateListener): void {
    this.ca.add(l);
    l(this.caUpdate());
  }

  removeCaCertificateListener(l: grpc.experimental.CaCertificateUpdateListener): void {
    this.ca.delete(l);
  }

  addIdentityCertificateListener(l: grpc.experimental.IdentityCertificateUpdateListener): void {
    this.identity.add(l);
    l(this.identityUpdate());
  }

  removeIdentityCertificateListener(l: grpc.experimental.IdentityCertificateUpdateListener): void {
    this.identity.delete(l);
  }
}

class GroupSecurity {
  readonly tls?: { files: WatchedFiles; hasClientCa: boolean };
  readonly tokens?: { files: WatchedFiles; accepted: Buffer[] };

  constructor(
    readonly group: ListenerGroup,
    cfg: GroupSecurityConfig,
    private readonly log: Logger,
  ) {
    if (cfg.tls) {
      const t = cfg.tls;
      const files = new WatchedFiles([t.certFile, t.keyFile, ...(t.clientCaFile ? [t.clientCaFile] : [])], `security.${group}.tls`, log, ([cert, key, ca]) => {
        createSecureContext({ cert, key, ...(ca ? { ca } : {}) });
      });
      this.tls = { files, hasClientCa: !!t.clientCaFile };
    }
    if (cfg.auth) {
      const files = new WatchedFiles([cfg.auth.bearerTokenFile], `security.${group}.auth`, log);
      const tokens = { files, accepted: [] as Buffer[] };
      const load = () => {
        const list = parseTokens(files.get(0).toString('utf8'));
        // never log the tokens: only how many there are
        if (!list.length) log.error({ group }, `security.${group}.auth: ${cfg.auth!.bearerTokenFile} holds no token: every request of the group is refused`);
        tokens.accepted = list.map(sha);
      };
      load();
      files.onChange(load);
      this.tokens = tokens;
    }
  }

  /** TLS options for node:https from the current files. */
  tlsOptions(): { cert: Buffer; key: Buffer; ca?: Buffer } {
    const f = this.tls!.files;
    return { cert: f.get(0), key: f.get(1), ...(this.tls!.hasClientCa ? { ca: f.get(2) } : {}) };
  }

  authorized(presented: string | undefined): boolean {
    return !this.tokens || tokenMatches(presented, this.tokens.accepted);
  }

  watched(): WatchedFiles[] {
    return [this.tls?.files, this.tokens?.files].filter((x): x is WatchedFiles => !!x);
  }
}

function refuseHttp(req: IncomingMessage, res: ServerResponse, group: string, presented: boolean): void {
  req.resume();
  const body = presented ? 'the bearer token is not valid\n' : 'authentication required: send "Authorization: Bearer <token>"\n';
  res.writeHead(401, {
    'WWW-Authenticate': `Bearer realm="jaeger-storage-${group}"${presented ? ', error="invalid_token"' : ''}`,
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    Connection: 'close',
  });
  res.end(body);
}

/** The security of every listener group, built from config.security; `close()` stops the file reloads. */
export class ListenerSecurity {
  private readonly groups = new Map<ListenerGroup, GroupSecurity>();
  private readonly timer?: NodeJS.Timeout;

  constructor(cfg: RuntimeConfig['security'], log: Logger) {
    const l = log.child({ subsystem: 'listener-security' });
    for (const g of ['ingest', 'query', 'remoteStorage', 'sampling'] as const) {
      const c = cfg?.[g];
      if (c && (c.tls || c.auth)) this.groups.set(g, new GroupSecurity(g, c, l));
    }
    const watched = [...this.groups.values()].flatMap((s) => s.watched());
    if (watched.length) {
      this.timer = setInterval(() => {
        for (const w of watched) w.check();
      }, cfg?.reloadIntervalMs ?? DEFAULT_RELOAD_MS);
      this.timer.unref();
    }
    l.info({ groups: Object.fromEntries([...this.groups].map(([g, s]) => [g, { tls: s.tls ? (s.tls.hasClientCa ? 'mTLS' : 'TLS') : 'off', auth: s.tokens ? 'bearer' : 'off' }])) }, 'listener security');
  }

  /** Whether a group serves TLS (for logs and tests). */
  tls(group: ListenerGroup): boolean {
    return !!this.groups.get(group)?.tls;
  }

  /** The server factory of a group's HTTP listeners. */
  http(group: ListenerGroup): HttpServerFactory {
    const s = this.groups.get(group);
    if (!s) return (options, handler) => createHttpServer(options, handler);
    return (options, handler) => {
      const handle: RequestListener = s.tokens
        ? (req, res) => {
            const header = req.headers.authorization;
            if (s.authorized(bearerToken(header))) return handler(req, res);
            refuseHttp(req, res, group, header !== undefined);
          }
        : handler;
      if (!s.tls) return createHttpServer(options, handle);
      const mtls = s.tls.hasClientCa;
      const server = createHttpsServer({ ...options, ...s.tlsOptions(), minVersion: 'TLSv1.2', requestCert: mtls, rejectUnauthorized: mtls }, handle);
      s.tls.files.onChange(() => server.setSecureContext({ ...s.tlsOptions(), minVersion: 'TLSv1.2' }));
      return server;
    };
  }

  /** A group's HTTP/2 listener for gRPC served on node:http2 directly: the same TLS, reloads and tokens as grpc(). */
  http2(group: ListenerGroup): Http2Listener {
    const s = this.groups.get(group);
    return {
      create: (options) => {
        if (!s?.tls) return createHttp2Server(options);
        const mtls = s.tls.hasClientCa;
        const server = createHttp2SecureServer({ ...options, ...s.tlsOptions(), minVersion: 'TLSv1.2', requestCert: mtls, rejectUnauthorized: mtls });
        s.tls.files.onChange(() => server.setSecureContext({ ...s.tlsOptions(), minVersion: 'TLSv1.2' }));
        return server;
      },
      refusal: (headers) => {
        if (!s?.tokens) return undefined;
        const header = headers.authorization;
        if (s.authorized(bearerToken(header))) return undefined;
        return header !== undefined ? TOKEN_NOT_VALID : TOKEN_MISSING;
      },
    };
  }

  /** The credentials of a group's gRPC listeners (TLS and the token check are both carried by them). */
  grpc(group: ListenerGroup): grpc.ServerCredentials {
    const s = this.groups.get(group);
    if (!s) return grpc.ServerCredentials.createInsecure();
    let creds: grpc.ServerCredentials;
    if (s.tls) {
      const provider = new FilesCertificateProvider(s.tls.files, s.tls.hasClientCa ? 2 : undefined);
      // (identity provider, CA provider or null, require a client certificate): the positional order of grpc-js
      creds = grpc.experimental.createCertificateProviderServerCredentials(provider, s.tls.hasClientCa ? provider : null, s.tls.hasClientCa);
      // grpc-js subscribes to the provider only when the server adds its watcher, and reads the first certificate
      // before that: a first watcher added here makes it subscribe now, so the server starts with the certificate
      // instead of dropping connections until the next change
      creds._addWatcher(() => undefined);
    } else {
      creds = grpc.ServerCredentials.createInsecure();
    }
    if (!s.tokens) return creds;
    const check: grpc.ServerInterceptor = (method, call) => {
      const listener = new grpc.ServerListenerBuilder()
        .withOnReceiveMetadata((metadata, next) => {
          if (OPEN_GRPC_METHODS.includes(method.path)) return next(metadata);
          const values = metadata.get('authorization');
          const presented = values.length === 1 && typeof values[0] === 'string' ? bearerToken(values[0]) : undefined;
          if (s.authorized(presented)) return next(metadata);
          call.sendStatus({ code: grpc.status.UNAUTHENTICATED, details: values.length ? TOKEN_NOT_VALID : TOKEN_MISSING });
        })
        .build();
      const responder = new grpc.ResponderBuilder().withStart((next) => next(listener)).build();
      return new grpc.ServerInterceptingCall(call, responder);
    };
    return grpc.experimental.createServerCredentialsWithInterceptors(creds, [check]);
  }

  close(): void {
    clearInterval(this.timer);
  }
}
