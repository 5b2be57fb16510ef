import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The operator's Prometheus metrics, in one registry (names follow controller-runtime's). */
export class OperatorMetrics {
  readonly registry = new Registry();
  readonly reconcileTotal = new Counter({ name: 'jso_reconcile_total', help: 'Reconciles by controller and result', labelNames: ['controller', 'result'] as const, registers: [this.registry] });
  readonly reconcileErrors = new Counter({ name: 'jso_reconcile_errors_total', help: 'Reconciles that failed and were retried', labelNames: ['controller'] as const, registers: [this.registry] });
  readonly reconcileSeconds = new Histogram({
    name: 'jso_reconcile_time_seconds',
    help: 'Duration of reconciles',
    labelNames: ['controller'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({ name: 'jso_workqueue_depth', help: 'Keys waiting in the work queue', labelNames: ['controller'] as const, registers: [this.registry] });
  readonly queueAdds = new Counter({ name: 'jso_workqueue_adds_total', help: 'Keys added to the work queue', labelNames: ['controller'] as const, registers: [this.registry] });
  readonly queueRetries = new Counter({ name: 'jso_workqueue_retries_total', help: 'Rate-limited re-adds after failures', labelNames: ['controller'] as const, registers: [this.registry] });
  readonly apiRequests = new Counter({ name: 'jso_kube_api_requests_total', help: 'Requests to the Kubernetes API', labelNames: ['verb', 'resource', 'code'] as const, registers: [this.registry] });
  readonly informerRestarts = new Counter({ name: 'jso_informer_restarts_total', help: 'List/watch restarts after errors or expiry', labelNames: ['resource', 'reason'] as const, registers: [this.registry] });
  readonly leader = new Gauge({ name: 'jso_leader', help: '1 while this replica is the leader', registers: [this.registry] });

  constructor(defaults = true) {
    if (defaults) collectDefaultMetrics({ register: this.registry });
  }
}
