import Docker from 'dockerode';
import { FlowError } from '../../domain/errors.js';

/** The default Docker socket, as the Docker CLI uses it. */
export const DEFAULT_DOCKER_HOST = 'unix:///var/run/docker.sock';

/** Where the Docker API is, from a DOCKER_HOST value: a unix socket or plain HTTP over TCP. */
export type DockerEndpoint = { socketPath: string } | { host: string; port: number };

/** Parses `unix:///path`, `/path`, `tcp://host:port` or `http://host:port`; undefined when it is none of them. */
export function parseDockerHost(value: string): DockerEndpoint | undefined {
  if (value.startsWith('/')) return { socketPath: value };
  const unix = /^unix:\/\/(\/.+)$/.exec(value);
  if (unix) return { socketPath: unix[1] as string };
  const tcp = /^(?:tcp|http):\/\/([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})\/?$/.exec(value);
  if (tcp && Number(tcp[2]) >= 1 && Number(tcp[2]) <= 65535) return { host: (tcp[1] as string).replace(/^\[|\]$/g, ''), port: Number(tcp[2]) };
  return undefined;
}

/**
 * A dockerode client for one endpoint. Every option is given explicitly,
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
