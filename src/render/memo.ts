import type { ServiceSpec } from '../domain/spec.js';
import type { BackendSlot, BackendView } from './backend.js';
import type { RouteInput } from './routes.js';
import type { RenderSettings } from './settings.js';

/**
 * Remembered results of render's pure functions, keyed by the immutable
 * specs and views they were computed from. It changes no result, only the
 * cost: the apply side keeps one for its lifetime, so an unchanged service is
 * not rebuilt at every apply. A caller that passes none gets a fresh one per
 * call (nothing is kept between calls). No module of render keeps state.
 */
export interface RenderMemo {
  /** The backends of a spec, for the settings they were built with. */
  readonly slots: WeakMap<ServiceSpec, { settings: RenderSettings; slots: BackendSlot[] }>;
  /** A view with its server names replaced by addresses, for the addresses it was built with. */
  readonly resolved: WeakMap<BackendView, { key: string; view: BackendView }>;
  /** The reload-only part of a view (structureOf). */
  readonly structure: WeakMap<BackendView, string>;
  /** A view under another name (a spare hosting a service). */
  readonly renamed: WeakMap<BackendView, BackendView>;
  /** The view a renamed one was copied from (consolidation gives a backend its own name, and object, again). */
  readonly originals: WeakMap<BackendView, BackendView>;
  /** A view with its owner and dynamic servers taken away (a removal waiting for a reload). */
  readonly emptied: WeakMap<BackendView, BackendView>;
  /** One copy of each option string backends share (server options, retry methods). */
  readonly strings: Map<string, string>;
  /** The HTTP routes of a spec's destinations (by index), for the backend names they were made for. */
  readonly routes: WeakMap<ServiceSpec, Array<{ plain: string | undefined; tls: string | undefined; routes: readonly RouteInput[] } | undefined>>;
  /** The spare backends, by name, for the settings they were built with. */
  readonly spares: Map<string, { settings: RenderSettings; view: BackendView }>;
}

export function renderMemo(): RenderMemo {
  return { slots: new WeakMap(), resolved: new WeakMap(), structure: new WeakMap(), renamed: new WeakMap(), originals: new WeakMap(), emptied: new WeakMap(), routes: new WeakMap(), spares: new Map(), strings: new Map() };
}
