import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import Docker from 'dockerode';
import { FlowError } from '../../domain/errors.js';
import type { EngineSpec } from './dockerHosts.js';

/**
 * A dockerode client for one engine. Every option is given explicitly,
 * because docker-modem otherwise reads DOCKER_HOST, DOCKER_CERT_PATH and
 * DOCKER_CLIENT_TIMEOUT from the environment behind our back (a client
 * timeout would also cut the long-lived events stream). TLS material is
 * read here, once, from the engine's certificate directory; it is handed to
 * the TLS layer only and never logged (errors name the files, not their contents).
 */
export function engineClient(spec: EngineSpec): Docker {
  const common = { timeout: undefined, ca: undefined, cert: undefined, key: undefined, agent: undefined };
  if ('socketPath' in spec.endpoint) return new Docker({ ...common, protocol: 'http', socketPath: spec.endpoint.socketPath, host: undefined, port: undefined });
  const { host, port } = spec.endpoint;
  if (spec.tls === 'off') return new Docker({ ...common, protocol: 'http', host, port });
  const dir = spec.certPath as string;
  const read = (file: string, required: boolean): Buffer | undefined => {
    const full = path.join(dir, file);
    try {
      return fs.readFileSync(full);
    } catch (e) {
      if (!required && (e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new FlowError('BAD_DOCKER_ENGINE', `engine "${spec.name}" (${spec.url}): cannot read ${full} (${(e as NodeJS.ErrnoException).code ?? 'error'}); tls=${spec.tls} needs ${spec.tls === 'verify' ? 'ca.pem, and cert.pem with key.pem for a client certificate,' : 'cert.pem with key.pem for a client certificate (or neither)'} in ${dir} (certs= of the entry, else DOCKER_CERT_PATH)`);
    }
  };
  const ca = spec.tls === 'verify' ? read('ca.pem', true) : undefined;
  const cert = read('cert.pem', false);
  const key = read('key.pem', false);
  if ((cert === undefined) !== (key === undefined)) {
    throw new FlowError('BAD_DOCKER_ENGINE', `engine "${spec.name}" (${spec.url}): ${dir} holds ${cert ? 'cert.pem without key.pem' : 'key.pem without cert.pem'}; a client certificate needs both`);
  }
  // Docker's --tls without --tlsverify: encrypted, the engine's certificate not checked.
  const agent = spec.tls === 'noverify' ? new https.Agent({ rejectUnauthorized: false, ...(cert && { cert }), ...(key && { key }) }) : undefined;
  return new Docker({ ...common, protocol: 'https', host, port, ...(ca && { ca }), ...(cert && { cert }), ...(key && { key }), ...(agent && { agent }) });
}
