// Records Kubernetes Events on the objects we manage. Called only on transitions (never on every reconcile), so
// a steady state writes nothing. Repeats of the same event within a short window are folded into one.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { type KubeClient, resourcePath } from './client.js';
import type { KubeObject } from './informer.js';
import { EVENTS } from './resources.js';


export type EventType = 'Normal' | 'Warning';

export class EventRecorder {
  private readonly recent = new Map<string, number>();

  constructor(
    private readonly client: KubeClient,
    private readonly component: string,
    private readonly log: Logger,
    private readonly foldWindowMs = 60_000,
  ) {}

  record(obj: KubeObject, type: EventType, reason: string, message: string): void {
    const ns = obj.metadata.namespace ?? 'default';
    const foldKey = `${obj.metadata.uid}|${type}|${reason}|${message}`;
    const now = Date.now();
    const last = this.recent.get(foldKey);
    if (last !== undefined && now - last < this.foldWindowMs) return;
    this.recent.set(foldKey, now);
    if (this.recent.size > 10_000) this.recent.clear();
    const ts = new Date(now).toISOString();
    const event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${obj.metadata.name}.${randomBytes(8).toString('hex')}`, namespace: ns },
      involvedObject: {
        apiVersion: obj.apiVersion,
        kind: obj.kind,
        name: obj.metadata.name,
        namespace: ns,
        uid: obj.metadata.uid,
        resourceVersion: obj.metadata.resourceVersion,
      },
      type,
      reason,
      message: message.slice(0, 1024),
      source: { component: this.component },
      reportingComponent: this.component,
      reportingInstance: process.env.HOSTNAME ?? this.component,
      firstTimestamp: ts,
      lastTimestamp: ts,
      count: 1,
    };
    this.client.request('POST', resourcePath(EVENTS, ns), { body: event }).catch((e: unknown) => {
      this.log.warn({ err: e instanceof Error ? e.message : String(e), reason }, 'could not record event');
    });
  }
}
