import path from 'node:path';
import type { CheckResult } from '../../src/core/ports.js';
import { loadTemplateSources } from '../../src/adapters/templates.js';
import type { ConfigFiles, DataPlane, RuntimeResult, Store, StoredState } from '../../src/core/ports.js';
import type { RuntimeOp } from '../../src/core/apply/runtimeDiff.js';
import type { Entry } from '../../src/domain/registry.js';
import { compileTemplates } from '../../src/render/render.js';
import { ROOT } from './flowProxy.js';
import { svc } from './render.js';

/** A data plane that records every call and accepts everything unless told otherwise (`refuse`: by its check and its reload alike). */
export class FakeDataPlane implements DataPlane {
  calls: string[] = [];
  /** The files of the last commit (what HAProxy would run). */
  committed: ConfigFiles | undefined;
  refuse: (files: ConfigFiles) => CheckResult | undefined = () => undefined;
  failReload: string | undefined;
  failRuntime: string | undefined;
  async start(files: ConfigFiles): Promise<'started'> {
    this.calls.push('start');
    this.committed = files;
    return 'started';
  }
  async check(files: ConfigFiles): Promise<CheckResult> {
    this.calls.push('check');
    return this.refuse(files) ?? { ok: true, alerts: [], output: '' };
  }
  async commit(files: ConfigFiles) {
    this.calls.push('commit');
    if (this.failReload !== undefined) return { ok: false, message: this.failReload, durationMs: 1 };
    // As HAProxy's master: files it cannot load leave the live ones running.
    const refused = this.refuse(files);
    if (refused) return { ok: false, message: refused.alerts.map((a) => a.message).join(' '), durationMs: 1 };
    this.committed = files;
    return { ok: true, message: '', durationMs: 1 };
  }
  async reloadOnly() {
    this.calls.push('reloadOnly');
    return { ok: true, message: '', durationMs: 1 };
  }
  writeLive(): void {
    this.calls.push('writeLive');
  }
  async runtime(ops: readonly RuntimeOp[]): Promise<RuntimeResult> {
    this.calls.push(`runtime:${ops.length}`);
    if (this.failRuntime !== undefined) return { ok: false, message: this.failRuntime };
    return { ok: true, message: 'applied', commands: ops.length };
  }
  async stop(): Promise<void> {}
}

/** A store in memory that counts its writes and can be made to fail. */
export class MemoryStore implements Store {
  saves = 0;
  saved: StoredState | undefined;
  fail: Error | undefined;
  async load(): Promise<StoredState | undefined> {
    return this.saved;
  }
  async save(state: StoredState): Promise<void> {
    if (this.fail) throw this.fail;
    this.saves++;
    this.saved = state;
  }
}

/** The built-in templates, compiled. */
export const templates = compileTemplates(loadTemplateSources(path.join(ROOT, 'templates')));

/** An API entry from a query string (valid ones only). */
export function apiEntry(query: string, owner: Entry['owner'] = 'api'): Entry {
  const spec = svc(query);
  return { name: spec.serviceName, owner, params: spec.params, spec };
}

/** Two sets of rendered files are the same. */
export function sameFiles(a: ConfigFiles, b: ConfigFiles): boolean {
  if (a.config !== b.config) return false;
  const keys = Object.keys(a.maps);
  return keys.length === Object.keys(b.maps).length && keys.every((k) => a.maps[k] === b.maps[k]);
}
