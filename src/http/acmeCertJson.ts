import path from 'node:path';
import type { AcmeListing } from '../core/acme/acmeManager.js';

/** One ACME name as /certs lists it: the fields of an uploaded certificate plus its ACME state; never the key. */
export function acmeCertJson(l: AcmeListing): Record<string, unknown> {
  return {
    ProxyServiceName: l.domain,
    CertsDir: path.dirname(l.file),
    ...(l.cert && { Subject: `CN=${l.cert.names[0] ?? l.domain}` }),
    Names: l.cert?.names ?? [l.domain],
    Issuer: l.cert?.issuer ?? null,
    NotAfter: l.cert ? new Date(l.cert.notAfter).toISOString() : null,
    ...(l.cert && { Fingerprint256: l.cert.fingerprint256 }),
    Acme: {
      State: l.state,
      Services: l.services,
      ...(l.cert && { NotBefore: new Date(l.cert.notBefore).toISOString() }),
      ...(l.renewAt !== undefined && { RenewAt: new Date(l.renewAt).toISOString() }),
      ...(l.reason !== undefined && { Reason: l.reason }),
      ...(l.nextAttempt !== undefined && { NextAttempt: new Date(l.nextAttempt).toISOString() }),
    },
  };
}
