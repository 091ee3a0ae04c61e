import type { Model } from '../../render/model.js';
import { mapFileName } from '../../render/model.js';
import { renderConfig, type Compiled, type Rendered } from '../../render/render.js';
import { LOOKUPS } from '../../render/routes.js';
import type { ConfigFiles } from '../ports.js';

export interface RenderedFiles {
  files: ConfigFiles;
  /** Owners of each line of files.config, for error attribution. */
  owners: Rendered['owners'];
}

/** Renders haproxy.cfg and the map files of a model; `owners: false` when no check will blame its lines. */
export function renderFiles(compiled: Compiled, model: Model, owners = true): RenderedFiles {
  const rendered = renderConfig(compiled, model.view, owners);
  const maps: Record<string, string> = {};
  for (const lookup of LOOKUPS) maps[mapFileName(lookup)] = mapText(model.maps[lookup]);
  let servers: ReturnType<ConfigFiles['servers']> | undefined;
  const config = rendered.text.endsWith('\n') ? rendered.text : `${rendered.text}\n`;
  // Asked for by a reload only: not for a candidate that is only checked, nor for files written after runtime changes.
  return { files: { config, maps, servers: () => (servers ??= configuredServers(model)) }, owners: rendered.owners };
}

/**
 * A map file's text by its entries, a cache like serversOfView: a model's map lists are replaced,
 * never changed. The checked part of a model has its lists, and a patched model (core/apply/patch.ts)
 * those its change left alone, so their 10,000 lines are not joined again (a model built whole has
 * new lists; the data plane still skips writing a file whose text is equal: writeUnlessThere).
 */
const mapTexts = new WeakMap<Model['maps'][keyof Model['maps']], string>();

function mapText(entries: Model['maps'][keyof Model['maps']]): string {
  let text = mapTexts.get(entries);
  if (text === undefined) {
    text = entries.map((e) => `${e.key} ${e.backend}\n`).join('');
    mapTexts.set(entries, text);
  }
  return text;
}

type ServersOf = Map<string, { host: string; port: number; checked: boolean }>;

/** A backend's servers by its view: views do not change, and most are the same from one render to the next. */
const serversOfView = new WeakMap<Model['view']['backends'][number], ServersOf>();

/** Backend -> server -> host and port, for every server line the model renders. */
function configuredServers(model: Model): Map<string, ServersOf> {
  const servers = new Map<string, ServersOf>();
  for (const b of model.view.backends) {
    let of = serversOfView.get(b);
    if (!of) {
      const checked = / check\b/.test(b.serverOptions);
      of = new Map(b.servers.map((s) => [s.name, { host: s.ip ?? s.host, port: s.port, checked }]));
      serversOfView.set(b, of);
    }
    servers.set(b.name, of);
  }
  return servers;
}
