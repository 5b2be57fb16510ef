// Cancellation of reads whose client went away: the StorageContext of a query carries an AbortSignal that aborts
// when the HTTP client closes the connection before its answer was sent, or the gRPC call is cancelled. Query
// paths stop pulling from the storage iterables once it aborts, so the storage work stops with the request.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EventEmitter } from 'node:events';
import type * as grpc from '@grpc/grpc-js';

/** Thrown by a query path that stopped because its client went away; there is nobody left to answer. */
export class ClientGoneError extends Error {
  constructor() {
    super('the client went away before its answer was ready');
    this.name = 'ClientGoneError';
  }
}

/** A signal aborting when the response is closed before it was finished (the client disconnected). */
export function httpSignal(_req: IncomingMessage, res: ServerResponse): AbortSignal {
  const ac = new AbortController();
  // 'close' follows 'finish' for an answered request too: only an unfinished one counts as the client going away
  res.once('close', () => {
    if (!res.writableFinished) ac.abort(new ClientGoneError());
  });
  return ac.signal;
}

/** A signal aborting when the gRPC call is cancelled (client cancel, deadline, disconnect). */
export function grpcSignal(call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>): AbortSignal {
  const ac = new AbortController();
  if (call.cancelled) ac.abort(new ClientGoneError());
  else {
    // both call kinds are EventEmitters; their typed `once` overloads do not combine across the union
    const events: EventEmitter = call;
    events.once('cancelled', () => ac.abort(new ClientGoneError()));
  }
  return ac.signal;
}

/**
 * The items of `iter` until `signal` aborts: checked before every pull, and on abort the source is closed
 * (return()), which ends a storage generator and releases what it holds.
 */
export async function* untilAborted<T>(iter: AsyncIterable<T>, signal: AbortSignal | undefined): AsyncGenerator<T, void, undefined> {
  if (!signal) {
    yield* iter;
    return;
  }
  const it = iter[Symbol.asyncIterator]();
  let done = false;
  try {
    while (!signal.aborted) {
      const r = await it.next();
      if (r.done) {
        done = true;
        return;
      }
      if (signal.aborted) break;
      yield r.value;
    }
  } finally {
    if (!done) await it.return?.();
  }
}

/** Throws ClientGoneError when `signal` aborted: a path that stopped early must not answer with partial data. */
export function throwIfGone(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new ClientGoneError();
}
