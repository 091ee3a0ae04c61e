import { DEFAULT_API, diffTarget, explainQuery, parseArgs, type CliCommand } from './cli/args.js';
import { formatDiff, formatExplain, formatRoutes, formatStatus } from './cli/format.js';
import { formatSettingsHelp } from './cli/settingsHelp.js';

/**
 * The `flow-proxy` command. Without a command (or with `run`) it runs the
 * proxy exactly as `node dist/src/main.js` does; the other commands talk to
 * a running proxy's API (`--api`, API_TOKEN from the environment).
 * Exit codes: 0 done, 1 the API refused or failed, 2 bad usage, 3 the API
 * could not be reached.
 */

const USAGE = `Usage: flow-proxy [command] [options]

Commands:
  run                      Run the proxy (the default): the API on PORT and a HAProxy it owns.
  status                   Readiness, services, health, quarantined and refused services, last applies.
  routes                   Every HTTP route in the order HAProxy evaluates them, and the TCP services.
  explain <url|path>       Which service a request reaches, and why (GET /v1/docker-flow-proxy/explain).
      -X, --method METHOD  The request's method (default GET).
      -H, --header 'N: v'  A request header (repeatable; -H 'Host: x' sets the host).
  diff <reconfigure query> What a reconfigure would change, as a unified diff (dryRun=true); nothing changes.
                           'remove?serviceName=x' previews a removal.

Options:
  --api URL                The proxy's API (default ${DEFAULT_API}).
  --json                   Print the API's JSON instead of text.
  -h, --help               This help.

Environment: API_TOKEN is sent as a bearer token (diff needs it when the proxy has one).
Dashboard: open <api>/dashboard in a browser.`;

class CliError extends Error {
  constructor(message: string, readonly code: number) {
    super(message);
  }
}

async function call(api: string, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const token = process.env.API_TOKEN;
  let res: Response;
  try {
    res = await fetch(`${api}/v1/docker-flow-proxy/${path}`, {
      headers: { Accept: 'application/json', ...(token !== undefined && token !== '' && { Authorization: `Bearer ${token}` }) },
      signal: AbortSignal.timeout(30_000),
    });
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw new CliError(`cannot reach the flow-proxy API at ${api}: ${cause?.code ?? cause?.message ?? (e as Error).message} (is it running? see --api)`, 3);
  }
  const text = await res.text();
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new CliError(`${api} answered ${res.status} with something that is not flow-proxy's JSON: ${text.slice(0, 200)}`, 1);
  }
  return { status: res.status, body };
}

/** A failed answer: its message on stderr (or the JSON on stdout with --json), exit 1. */
function refused(status: number, body: Record<string, unknown>, json: boolean): never {
  if (json) process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
  throw new CliError(`the API answered ${status}: ${String(body.Message ?? 'no message')}`, 1);
}

async function runCommand(command: Exclude<CliCommand, { kind: 'run' | 'help' }>): Promise<string> {
  const { api, json } = command;
  switch (command.kind) {
    case 'status': {
      const [state, discovery] = await Promise.all([call(api, 'dashboard/state'), call(api, 'discovery')]);
      if (state.status !== 200) refused(state.status, state.body, json);
      if (json) return JSON.stringify({ ...state.body, Discovery: discovery.body }, null, 2);
      return formatStatus(api, state.body, discovery.body);
    }
    case 'routes': {
      const state = await call(api, 'dashboard/state');
      if (state.status !== 200) refused(state.status, state.body, json);
      if (json) {
        const services = state.body.Services as Array<{ Name: string; Routes: Array<{ Order: number }> }>;
        return JSON.stringify({ RouteOrder: (state.body.Proxy as { RouteOrder: string }).RouteOrder, Routes: services.flatMap((s) => s.Routes.map((r) => ({ ...r, Service: s.Name }))).sort((a, b) => a.Order - b.Order) }, null, 2);
      }
      return formatRoutes(state.body);
    }
    case 'explain': {
      const q = explainQuery(command.url, command.method, command.headers);
      if (typeof q === 'string') throw new CliError(q, 2);
      const res = await call(api, `explain?${q.toString()}`);
      if (res.status !== 200) refused(res.status, res.body, json);
      return json ? JSON.stringify(res.body, null, 2) : formatExplain(command.method, command.url, res.body);
    }
    case 'diff': {
      const target = diffTarget(command.query);
      const res = await call(api, `${target.endpoint}?${target.query}${target.query ? '&' : ''}dryRun=true`);
      if (res.status !== 200) refused(res.status, res.body, json);
      return json ? JSON.stringify(res.body, null, 2) : formatDiff(target.endpoint, res.body, process.stdout.isTTY === true && process.env.NO_COLOR === undefined);
    }
  }
}

async function cli(argv: readonly string[]): Promise<void> {
  const parsed = parseArgs(argv);
  if (!parsed.ok) {
    process.stderr.write(`flow-proxy: ${parsed.error}\n`);
    process.exitCode = 2;
    return;
  }
  const { command } = parsed;
  if (command.kind === 'run') {
    // The proxy itself: main.js starts it, and stops it (HAProxy too) on SIGTERM and SIGINT.
    await import('./main.js');
    return;
  }
  if (command.kind === 'help') {
    process.stdout.write(`${USAGE}\n\n${formatSettingsHelp(process.stdout.columns && process.stdout.columns > 60 ? Math.min(process.stdout.columns, 120) : 100)}\n`);
    return;
  }
  try {
    process.stdout.write(`${await runCommand(command)}\n`);
  } catch (e) {
    if (!(e instanceof CliError)) throw e;
    process.stderr.write(`flow-proxy: ${e.message}\n`);
    process.exitCode = e.code;
  }
}

void cli(process.argv.slice(2));
