import type { Applier, ApplyKind, LiveState, ModelOverrides, Prepared } from './applier.js';
import { MAX_ATTEMPTS } from './applier.js';
import { culpritsFromAlerts } from './attribution.js';
import { applyCommands, type Command, type DesiredState } from '../desired/desired.js';
import { renderFiles } from './files.js';
import { explainReload } from './liveView.js';
import type { CheckResult, ConfigFiles } from '../ports.js';
import type { ResultCode } from '../results.js';
import { describeOps, runtimeDiff } from './runtimeDiff.js';

/**
 * A dry run of an upsert or a remove: what the apply would do (runtime,
 * reload or none, decided as the reconciler and the applier decide it: the
 * same reducer, the same models) and the files on both sides. Nothing
 * changes: no store write, no HAProxy call (only `options.check`, a
 * `haproxy -c` on files of its own), no reconciler state.
 */

/** A change a dry run can preview: what reconfigure and remove submit. */
export type PreviewCommand = Extract<Command, { kind: 'upsert' } | { kind: 'remove' }>;

export interface PreviewOptions {
  /** Certificates as they would be after the call (a serviceCert); default: as they are. */
  certs?: { hasCerts: boolean; key: string };
  /** `haproxy -c` on files of its own; without it a reload is not checked. */
  check?: (files: ConfigFiles) => Promise<CheckResult>;
}

interface PreviewOk {
  ok: true;
  kind: ApplyKind;
  reason: string;
  /** The files HAProxy runs now, and the files it would run. */
  live: ConfigFiles;
  candidate: ConfigFiles;
  /** The candidate passed `haproxy -c` (reloads only; a runtime change is never checked by the apply either). */
  checked: boolean;
}

interface PreviewFailed {
  ok: false;
  code: ResultCode;
  message: string;
}

export type PreviewResult = PreviewOk | PreviewFailed;

export async function preview(ctx: { applier: Applier; desired: DesiredState; now: number }, command: PreviewCommand, options: PreviewOptions = {}): Promise<PreviewResult> {
  const { applier, desired } = ctx;
  const live = applier.live;
  const liveFiles = applier.liveFiles();
  if (!live || !liveFiles) return { ok: false, code: 'STARTING', message: 'nothing is live yet: flow-proxy is still starting.' };
  const name = command.kind === 'upsert' ? command.entry.name : command.name;
  const r = applyCommands(desired, [command], ctx.now);
  const refused = r.refused.get(0);
  if (refused !== undefined) return { ok: false, code: 'ACL_TAKEN', message: refused };
  if (r.changed.size === 0) return { ok: true, kind: 'none', reason: 'no change', live: liveFiles, candidate: liveFiles, checked: false };
  // The changed service renders even if it is quarantined now: the real call would take it out of quarantine.
  const revived = new Set(r.changed.keys());
  const state = r.next;
  const inputs = await applier.prepare(state, revived);
  const without = new Set<string>();
  const overrides: ModelOverrides = { revived, ...(options.certs && { certs: options.certs }) };
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    // Services other than this one that cannot render would be quarantined by the apply: left out here.
    const culprits = inputs.failures.size > 0 && attempt === 0 ? inputs.failures : await previewAttempt(applier, state, live, inputs, without, overrides, options.check);
    if (!(culprits instanceof Map)) return culprits.ok ? { ...culprits, live: liveFiles } : culprits;
    const own = culprits.get(name);
    if (own !== undefined) return { ok: false, code: 'REJECTED', message: own };
    if (culprits.size === 0) return { ok: false, code: 'INTERNAL', message: 'could not find a valid configuration for this change' };
    for (const n of culprits.keys()) without.add(n);
  }
  return { ok: false, code: 'INTERNAL', message: 'could not find a valid configuration for this change' };
}

/** One dry-run attempt: the outcome, or the services that stop it (with their reasons). */
async function previewAttempt(applier: Applier, state: DesiredState, live: LiveState, inputs: Prepared, without: ReadonlySet<string>, overrides: ModelOverrides, check: PreviewOptions['check']): Promise<Map<string, string> | Omit<PreviewOk, 'live'> | PreviewFailed> {
  const templates = applier.templates;
  const sticky = applier.model(state, live.layout, inputs, without, overrides);
  if (sticky.conflicts.size > 0) return sticky.conflicts;
  const clashes = applier.routeConflicts(sticky.model, overrides.revived ?? new Set());
  if (clashes.size > 0) return { ok: false, code: 'ROUTE_CONFLICT', message: [...clashes.values()].join(' ') };
  if (sticky.model.structure.value === live.model.structure.value) {
    const ops = runtimeDiff(live, sticky.model);
    const candidate = renderFiles(templates, sticky.model).files;
    return ops.length === 0
      ? { ok: true, kind: 'none', reason: 'nothing to change in HAProxy', candidate, checked: false }
      : { ok: true, kind: 'runtime', reason: describeOps(ops), candidate, checked: false };
  }
  const reason = explainReload(live.model, sticky.model);
  const canonical = applier.model(state, undefined, inputs, without, overrides);
  if (canonical.conflicts.size > 0) return canonical.conflicts;
  const rendered = renderFiles(templates, canonical.model);
  if (!check) return { ok: true, kind: 'reload', reason, candidate: rendered.files, checked: false };
  const result = await check(rendered.files);
  if (result.ok) return { ok: true, kind: 'reload', reason, candidate: rendered.files, checked: true };
  const culprits = culpritsFromAlerts(result.alerts, rendered, canonical.model);
  if (culprits.size > 0) return culprits;
  const text = result.alerts.map((a) => a.message).join(' ');
  // As the apply's bisection would find: the changed service is at fault when the config is valid without it.
  const changed = [...overrides.revived ?? []].filter((n) => !without.has(n));
  if (changed.length > 0) {
    const rest = applier.model(state, undefined, inputs, new Set([...without, ...changed]), overrides).model;
    if ((await check(renderFiles(templates, rest).files)).ok) return new Map(changed.map((n) => [n, `HAProxy refused the configuration of service "${n}": ${text}`]));
  }
  return { ok: false, code: 'HAPROXY', message: `HAProxy rejected the configuration: ${text}` };
}
