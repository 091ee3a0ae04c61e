import crypto from 'node:crypto';
import type Koa from 'koa';
import { CertStore } from '../adapters/certs/certStore.js';
import type { CheckResult } from '../adapters/haproxy/check.js';
import type { PreviewCommand, PreviewOptions } from '../core/apply/preview.js';
import type { Reconciler } from '../core/reconcile/reconciler.js';
import type { ConfigFiles } from '../core/ports.js';
import { toEntry } from '../domain/entry.js';
import { issuesStatus, nok, ok, resultStatus } from './errors.js';
import { describeIssues } from '../domain/errors.js';
import { FlowError } from '../domain/errors.js';
import { fromEntries, normaliseKey } from '../domain/params.js';
import type { ParseContext } from '../domain/parse.js';
import { parseBool } from '../domain/values.js';
import type { AppState } from './app.js';
import { configDiff } from './configDiff.js';
import { queryEntries } from './dfpRoutes.js';

export interface DryRunDeps {
  engine: Pick<Reconciler, 'preview'>;
  parseContext: ParseContext;
  /** FILTER_PROXY_INSTANCE_NAME, as the real reconfigure applies it. */
  instanceFilter?: string;
  /** `haproxy -c` on files of its own. */
  check?: (files: ConfigFiles) => Promise<CheckResult>;
  /** Where the maps live, shown in the diff as /config shows it. */
  mapDir: string;
  /** The certificate store a serviceCert would be written to; undefined when the operator owns the crt-list. */
  certs?: CertStore;
}

const ENDPOINT = /^\/v1\/docker-flow-proxy\/(reconfigure|remove)$/;

/**
 * `dryRun=true` on reconfigure and remove: answers what the call would do
 * (Kind runtime, reload or none, and the unified diff of haproxy.cfg and
 * the maps) or the 4xx the real call would give, and changes nothing.
 * Mounted before the real endpoints; any other call passes through. The
 * API token is checked before this runs, as for the real call.
 */
export function dryRunRoutes(deps: DryRunDeps): (app: Koa<AppState>) => void {
  return (app) => {
    app.use(async (ctx, next) => {
      const endpoint = ENDPOINT.exec(ctx.path)?.[1];
      if (endpoint === undefined) return next();
      const entries = queryEntries(ctx.querystring);
      const flags = entries.filter(([k]) => normaliseKey(k) === 'dryrun');
      if (flags.length === 0) return next();
      const values = [...new Set(flags.map(([, v]) => v))];
      const wanted = values.length === 1 ? parseBool(values[0] as string) : 'is given more than once with different values';
      if (typeof wanted === 'string') throw new FlowError('BAD_DRY_RUN', `Parameter dryRun "${values.join('", "')}" ${wanted}.`);
      if (!wanted) return next();
      const rest = entries.filter(([k]) => normaliseKey(k) !== 'dryrun');
      const answer = endpoint === 'reconfigure' ? await reconfigure(rest, deps) : await remove(rest, deps);
      ctx.state.log.info({ service: answer.body.ServiceName, status: answer.status, kind: answer.body.Kind }, `${endpoint} dry run`);
      ctx.status = answer.status;
      ctx.body = { ...answer.body, DryRun: true };
    });
  };
}

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

async function reconfigure(entries: Array<[string, string]>, deps: DryRunDeps): Promise<Answer> {
  const raw = fromEntries(entries);
  const parsed = toEntry(raw, deps.parseContext, 'api');
  if (!parsed.ok) return { status: issuesStatus(parsed.issues), body: nok(describeIssues(parsed.issues), parsed.serviceName ?? raw.params.get('servicename') ?? '') };
  const { entry, options } = parsed;
  const name = entry.name;
  if (deps.instanceFilter !== undefined && entry.spec.proxyInstanceName !== undefined && entry.spec.proxyInstanceName !== deps.instanceFilter) {
    return { status: 200, body: { ...ok(name, 'Ignored: the request is for another proxy instance.'), Kind: 'none', Reason: 'another proxy instance', Diff: '' } };
  }
  const previewOptions: PreviewOptions = { ...(deps.check && { check: deps.check }) };
  if (options.serviceCert !== undefined) {
    const certName = entry.spec.destinations[0]?.serviceDomain.find((d) => !d.startsWith('*')) ?? name;
    let pem: string;
    try {
      pem = CertStore.validate(certName, options.serviceCert);
    } catch (e) {
      return { status: 400, body: nok(e instanceof Error ? e.message : String(e), name) };
    }
    const certs = certsAfter(deps.certs, certName, pem);
    if (certs) previewOptions.certs = certs;
  }
  const command: PreviewCommand = entry.spec.replicas === 0 ? { kind: 'remove', name } : { kind: 'upsert', entry };
  return preview(command, name, previewOptions, deps);
}

async function remove(entries: Array<[string, string]>, deps: DryRunDeps): Promise<Answer> {
  const raw = fromEntries(entries);
  if (raw.issues.length > 0) throw new FlowError('BAD_QUERY', raw.issues.map((i) => i.message).join(' '));
  const name = raw.params.get('servicename');
  if (name === undefined || name === '') return { status: 400, body: nok('The serviceName query is mandatory', '') };
  return preview({ kind: 'remove', name }, name, { ...(deps.check && { check: deps.check }) }, deps);
}

async function preview(command: PreviewCommand, name: string, options: PreviewOptions, deps: DryRunDeps): Promise<Answer> {
  const result = await deps.engine.preview(command, options);
  if (!result.ok) return { status: resultStatus(result), body: nok(result.message, name) };
  return {
    status: 200,
    body: {
      ...ok(name, 'Dry run: nothing was changed.'),
      Kind: result.kind,
      Reason: result.reason,
      Checked: result.checked,
      Diff: configDiff(result.live, result.candidate, deps.mapDir),
    },
  };
}

/** The certificates as they would be once a serviceCert is stored: unchanged when the same one is there already. */
function certsAfter(store: CertStore | undefined, name: string, pem: string): PreviewOptions['certs'] {
  if (!store) return undefined;
  const fingerprint = new crypto.X509Certificate(pem).fingerprint256;
  if (store.list().some((c) => c.name === name && c.source === 'dir' && c.fingerprint256 === fingerprint)) return undefined;
  return { hasCerts: true, key: `${store.key()}+${name}:${fingerprint}` };
}
