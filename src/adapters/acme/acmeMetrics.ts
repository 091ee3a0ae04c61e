import { Counter, Gauge, type Registry } from 'prom-client';

/** ACME's metrics, registered on flow-proxy's registry. */
export class AcmeMetrics {
  readonly certificates: Gauge<'state'>;
  readonly expiryDays: Gauge<'name' | 'source'>;
  readonly orders: Counter<'outcome'>;

  constructor(registry: Registry) {
    this.certificates = new Gauge({ name: 'flowproxy_acme_certificates', help: 'Names managed by ACME, by state (pending, valid, renewing, failed).', labelNames: ['state'] as const, registers: [registry] });
    this.expiryDays = new Gauge({ name: 'flowproxy_certificate_expiry_days', help: 'Days until each served certificate expires (source: acme or uploaded).', labelNames: ['name', 'source'] as const, registers: [registry] });
    this.orders = new Counter({ name: 'flowproxy_acme_orders_total', help: 'ACME orders by outcome (issued, failed, rate_limited).', labelNames: ['outcome'] as const, registers: [registry] });
    for (const state of ['pending', 'valid', 'renewing', 'failed']) this.certificates.set({ state }, 0);
    for (const outcome of ['issued', 'failed', 'rate_limited']) this.orders.inc({ outcome }, 0);
  }
}
