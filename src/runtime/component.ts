// The runtime is a set of components: each listener and timer is created by a factory from its config section,
// started in the order of one table (./components.ts) and stopped in shutdown tiers: intake stops accepting first,
// then the pipeline drains, then what serves reads, then the admin port, the backend last. Every stop has a
// deadline, past which it is forced: a stuck client or backend must not keep the process alive.
import type { Server } from 'node:http';
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';

/** Shutdown tiers, in the order they stop; the components of one tier stop together. */
export const SHUTDOWN_ORDER = ['intake', 'pipeline', 'serving', 'admin', 'storage'] as const;
export type ShutdownTier = (typeof SHUTDOWN_ORDER)[number];

export interface Component {
  /** Starts (binds, schedules); a listener knows its bound port afterwards. */
  start(): Promise<void>;
  /** Stops gracefully; the runtime forces it at `deadline` (ms since the epoch). */
  stop(deadline: number): Promise<void>;
  /** Ends at once what stop() left running (open connections, calls in progress). */
  force?(): void;
  /** the bound port, once started (listeners) */
  readonly port?: number;
}

/** One line of the component table. */
export interface ComponentSpec<P, K extends string = string> {
  readonly name: string;
  readonly shutdown: ShutdownTier;
  /** how long stop() may take before it is forced, ms */
  readonly stopMs: number;
  /** the port of the runtime handle this listener fills */
  readonly port?: K;
  /** Builds the component from its config section; undefined when the configuration has none. */
  create(parts: P): Component | undefined;
}

export interface StartedComponent {
  readonly name: string;
  readonly shutdown: ShutdownTier;
  readonly stopMs: number;
  readonly port?: string;
  readonly component: Component;
}

/** Runs one shutdown step; past `ms` it is forced (when it can be) and shutdown goes on without it. */
export async function withDeadline(name: string, ms: number, run: () => Promise<unknown>, force: (() => void) | undefined, log: Logger): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), ms)));
  try {
    const r = await Promise.race([run().then(() => 'done' as const), late]);
    if (r === 'late') {
      log.warn({ step: name, afterMs: ms }, force ? 'shutdown step overran its deadline: forcing it' : 'shutdown step overran its deadline: going on without it');
      force?.();
    }
  } catch (e) {
    log.warn({ step: name, err: e instanceof Error ? e.message : String(e) }, 'shutdown step failed');
    force?.();
  } finally {
    clearTimeout(timer);
  }
}

/** Stops started components tier by tier (see SHUTDOWN_ORDER), each under its deadline. */
export async function stopComponents(started: readonly StartedComponent[], log: Logger): Promise<void> {
  for (const tier of SHUTDOWN_ORDER) {
    await Promise.all(
      started
        .filter((s) => s.shutdown === tier)
        .map((s) => withDeadline(`stop ${s.name}`, s.stopMs, () => s.component.stop(Date.now() + s.stopMs), s.component.force && (() => s.component.force!()), log)),
    );
  }
}

/**
 * Creates and starts the components of `table` in order. When one fails to be created or started, the ones
 * already started are stopped (in shutdown order) and the error is thrown.
 */
export async function startComponents<P>(table: readonly ComponentSpec<P>[], parts: P, log: Logger): Promise<StartedComponent[]> {
  const started: StartedComponent[] = [];
  for (const spec of table) {
    try {
      const component = spec.create(parts);
      if (!component) continue;
      await component.start();
      started.push({ name: spec.name, shutdown: spec.shutdown, stopMs: spec.stopMs, port: spec.port, component });
    } catch (e) {
      log.error({ component: spec.name, err: e instanceof Error ? e.message : String(e) }, 'component failed to start: stopping the ones started');
      await stopComponents(started, log);
      throw e;
    }
  }
  return started;
}

/** A component around an HTTP server that `listen` creates and binds. */
export function httpComponent(listen: () => Promise<Server & { port: number }>): Component {
  let server: (Server & { port: number }) | undefined;
  return {
    get port() {
      return server?.port;
    },
    async start() {
      server = await listen();
    },
    stop: () =>
      new Promise<void>((r) => {
        if (!server) return r();
        server.close(() => r());
        server.closeIdleConnections();
      }),
    force: () => server?.closeAllConnections(),
  };
}

/** A component around a gRPC server that `listen` creates and binds. */
export function grpcComponent(listen: () => Promise<{ server: grpc.Server; port: number }>): Component {
  let bound: { server: grpc.Server; port: number } | undefined;
  return {
    get port() {
      return bound?.port;
    },
    async start() {
      bound = await listen();
    },
    stop: () => new Promise<void>((r) => (bound ? bound.server.tryShutdown(() => r()) : r())),
    force: () => bound?.server.forceShutdown(),
  };
}

/** A timer running `tick` at start and every `everyMs` after; it does not keep the process alive. */
export function intervalComponent(everyMs: number, tick: () => void): Component {
  let timer: NodeJS.Timeout | undefined;
  return {
    start() {
      tick();
      timer = setInterval(tick, everyMs);
      timer.unref();
      return Promise.resolve();
    },
    stop() {
      clearInterval(timer);
      return Promise.resolve();
    },
  };
}
