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
  for (const lookup of LOOKUPS) {
    maps[mapFileName(lookup)] = model.maps[lookup].map((e) => `${e.key} ${e.backend}\n`).join('');
  }
  return { files: { config: rendered.text.endsWith('\n') ? rendered.text : `${rendered.text}\n`, maps, servers: configuredServers(model) }, owners: rendered.owners };
}

/** Backend -> server -> host and port, for every server line the model renders. */
function configuredServers(model: Model): Map<string, Map<string, { host: string; port: number; checked: boolean }>> {
  const servers = new Map<string, Map<string, { host: string; port: number; checked: boolean }>>();
  for (const b of model.view.backends) {
    const checked = / check\b/.test(b.serverOptions);
    servers.set(b.name, new Map(b.servers.map((s) => [s.name, { host: s.ip ?? s.host, port: s.port, checked }])));
  }
  return servers;
}
