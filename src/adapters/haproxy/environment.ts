/**
 * The environment HAProxy runs with: the path and nothing else. HAProxy can
 * read its environment (`env()` fetches, "${VAR}" in the config), so the
 * proxy's own secrets (API_TOKEN, STATS_PASS, CONSUL_HTTP_TOKEN, ...) must
 * never be in it.
 */
export function haproxyEnvironment(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' };
}
