import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ApplyRecord } from '../core/ports.js';

const LATENCY_BUCKETS = [0.005, 0.01, 0.02, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2, 5, 10];

/** flow-proxy's own Prometheus metrics, in a registry of their own (no global state). */
export class Metrics {
  readonly registry = new Registry();

  /** The metrics in Prometheus' text format. */
  scrape(): Promise<string> {
    this.countServices(this);
    return this.registry.metrics();
  }

  readonly apiCalls = new Counter({
    name: 'flowproxy_api_requests_total',
    help: 'Calls of the docker-flow-proxy API by endpoint and outcome (ok, rejected, error, unauthorized).',
    labelNames: ['endpoint', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly applies = new Counter({
    name: 'flowproxy_applies_total',
    help: 'Applies by how they were made live: runtime (no reload), reload, or none (nothing to change).',
    labelNames: ['kind', 'ok'] as const,
    registers: [this.registry],
  });
  readonly applyDuration = new Histogram({
    name: 'flowproxy_apply_duration_seconds',
    help: 'Time from the start of an apply until HAProxy serves it.',
    labelNames: ['kind'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly changeToLive = new Histogram({
    name: 'flowproxy_change_to_live_seconds',
    help: 'Time from a change arriving (API request or Docker event) until it is live in HAProxy.',
    labelNames: ['source'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly services = new Gauge({ name: 'flowproxy_services', help: 'Services in the registry, by owner.', labelNames: ['owner'] as const, registers: [this.registry] });
  readonly quarantined = new Gauge({ name: 'flowproxy_services_quarantined', help: 'Services kept out of HAProxy because their configuration is refused.', registers: [this.registry] });
  readonly dockerEvents = new Counter({ name: 'flowproxy_docker_events_total', help: 'Docker events received, by type and action.', labelNames: ['type', 'action'] as const, registers: [this.registry] });
  readonly dockerReconnects = new Counter({ name: 'flowproxy_docker_reconnects_total', help: 'Reconnections to the Docker events stream.', registers: [this.registry] });
  readonly peerRequests = new Counter({ name: 'flowproxy_peer_requests_total', help: 'Fan-out and anti-entropy requests to peers, by kind and outcome.', labelNames: ['kind', 'outcome'] as const, registers: [this.registry] });
  readonly storeHealthy = new Gauge({ name: 'flowproxy_store_healthy', help: '1 when the state store answers, 0 when it does not.', labelNames: ['store'] as const, registers: [this.registry] });
  readonly haproxyRecoveries = new Counter({ name: 'flowproxy_haproxy_recoveries_total', help: 'Times a lost HAProxy worker or master was brought back.', labelNames: ['what'] as const, registers: [this.registry] });
  readonly ready = new Gauge({ name: 'flowproxy_ready', help: '1 once the stored and discovered routes are live.', registers: [this.registry] });

  /**
   * `countServices` brings the gauges that count services up to date; it is called at each scrape:
   * counting after each apply would make a change's cost grow with the number of services.
   */
  constructor(private readonly countServices: (metrics: Metrics) => void = () => {}) {
    collectDefaultMetrics({ register: this.registry, prefix: 'flowproxy_' });
  }

  recordApply(record: ApplyRecord): void {
    this.applies.inc({ kind: record.kind, ok: String(record.ok) });
    if (record.kind !== 'none') this.applyDuration.observe({ kind: record.kind }, record.durationMs / 1000);
  }
}
