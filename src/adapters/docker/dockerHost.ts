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
