import Docker from 'dockerode';
import { FlowError } from '../../domain/errors.js';
import { parseDockerHost } from './dockerHost.js';

/**
 * A dockerode client for one DOCKER_HOST. Every option is given explicitly,
 * because docker-modem otherwise reads DOCKER_HOST, DOCKER_CERT_PATH and
 * DOCKER_CLIENT_TIMEOUT from the environment behind our back (a client
 * timeout would also cut the long-lived events stream).
 */
export function dockerClient(dockerHost: string): Docker {
  const endpoint = parseDockerHost(dockerHost);
  if (!endpoint) throw new FlowError('BAD_DOCKER_HOST', `DOCKER_HOST "${dockerHost}" must be unix:///path/to/docker.sock or tcp://host:port`);
  const common = { protocol: 'http' as const, timeout: undefined, ca: undefined, cert: undefined, key: undefined };
  return 'socketPath' in endpoint
    ? new Docker({ ...common, socketPath: endpoint.socketPath, host: undefined, port: undefined })
    : new Docker({ ...common, host: endpoint.host, port: endpoint.port });
}
