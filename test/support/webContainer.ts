import { IMAGE, type DockerEngine } from './dockerEngine.js';

export interface WebContainer {
  /** Container name. */
  name: string;
  /** Port httpd listens on, on the namespace's loopback. */
  port: number;
  /** Route path: the file served is `<path>/index.html`. */
  path: string;
  /** What the container answers, so a test can tell which one did. */
  text: string;
  labels?: Record<string, string>;
  /** A health check that passes, or one that always fails. */
  health?: 'pass' | 'fail';
  /** `--restart always`: comes back when dockerd restarts. */
  restart?: boolean;
  /**
   * `oneshot`: oneshot-http, which answers at once, keep-alive, each response in one write (like common app
   * servers); the default is busybox httpd, which listens before its file is written and writes a response
   * in several steps.
   */
  server?: 'httpd' | 'oneshot';
}

/**
 * The shell a web container runs: busybox httpd serving one distinct file.
 * httpd starts first, so that it listens as early as possible after Docker's
 * start event (a connection refused costs a 1 s HAProxy retry, which would
 * be measured as discovery latency); until the file is written it answers
 * 404. The shell is PID 1 and traps TERM, so `docker stop` is immediate.
 */
export function webScript(port: number, path: string, text: string, ip = '127.0.0.1'): string {
  return `trap 'exit 0' TERM; httpd -f -p ${ip}:${port} -h /www & mkdir -p /www${path}; echo ${text} > /www${path}/index.html; wait`;
}

/** `docker run -d` of a labelled web container on the host network (the namespace's loopback); returns its id. */
export async function runWeb(engine: DockerEngine, web: WebContainer): Promise<string> {
  const labels = { 'com.df.notify': 'true', 'com.df.servicePath': web.path, 'com.df.port': String(web.port), ...web.labels };
  const health = web.health === undefined ? [] : [
    '--health-cmd', web.health === 'pass' ? `wget -q -O /dev/null http://127.0.0.1:${web.port}${web.path}/ || exit 1` : 'exit 1',
    '--health-interval', '250ms', '--health-retries', '1', '--health-timeout', '2s',
  ];
  return engine.docker([
    'run', '-d', '--network', 'host', '--name', web.name, '--stop-timeout', '2',
    ...(web.restart ? ['--restart', 'always'] : []),
    ...Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
    ...health,
    IMAGE, 'sh', '-c', web.server === 'oneshot' ? oneshotScript(web.port, web.text) : webScript(web.port, web.path, web.text),
  ]);
}

/** oneshot-http under a shell that exits at once on SIGTERM (the kernel then kills the server mid-flight). */
export function oneshotScript(port: number, text: string, ip = '127.0.0.1'): string {
  return `trap 'exit 0' TERM; oneshot-http ${ip} ${port} ${text} & wait`;
}
