import type { Issue } from './errors.js';
import type { RawResult } from './params.js';
import { parseService, type ParseContext } from './parse.js';
import type { Entry, Owner } from './registry.js';
import type { RequestOptions } from './spec.js';

/** Parses a service from any source (query, labels, environment, store, peer) into a registry entry, or the issues that stop it. */
export function toEntry(raw: RawResult, ctx: ParseContext, owner: Owner): { ok: true; entry: Entry; options: RequestOptions } | { ok: false; issues: Issue[]; serviceName?: string } {
  if (raw.issues.length > 0) return { ok: false, issues: raw.issues };
  const parsed = parseService(raw.params, ctx);
  if (!parsed.ok) return parsed;
  const warnings = [...(raw.warnings ?? []), ...parsed.warnings].map((w) => w.message);
  return {
    ok: true,
    entry: { name: parsed.spec.serviceName, owner, params: parsed.spec.params, spec: parsed.spec, ...(warnings.length > 0 && { warnings }) },
    options: parsed.options,
  };
}
