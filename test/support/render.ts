import fs from 'node:fs';
import path from 'node:path';
import { loadTemplateSources } from '../../src/adapters/templates.js';
import { renderFiles } from '../../src/core/apply/files.js';
import { MAP_DIR_TOKEN } from '../../src/core/ports.js';
import { fromEntries } from '../../src/domain/params.js';
import { parseService, type ParseContext } from '../../src/domain/parse.js';
import type { ServiceSpec } from '../../src/domain/spec.js';
import { buildModel, type Model } from '../../src/render/model.js';
import { keepLiveNames } from '../../src/core/apply/layout.js';
import { compileTemplates } from '../../src/render/render.js';
import type { RenderSettings } from '../../src/render/settings.js';
import { ROOT } from './flowProxy.js';
import { tempDir } from './tmp.js';

export const parseCtx: ParseContext = {
  separator: ',',
  httpsOnly: false,
  globalUsers: [],
  userSecrets: new Map(),
  allowRawSnippets: false,
  templateDirs: ['/templates'],
};

/** A service from a query string; throws on invalid input (tests pass valid ones). */
export function svc(query: string, ctx: ParseContext = parseCtx): ServiceSpec {
  const r = parseService(fromEntries(new URLSearchParams(query)).params, ctx);
  if (!r.ok) throw new Error(r.issues.map((i) => i.message).join(' '));
  return r.spec;
}

export function baseSettings(over: Partial<RenderSettings> = {}): RenderSettings {
  return {
    adminSocket: '/run/fp/admin.sock',
    serverStateFile: '/run/fp/server-state',
    errorDir: path.join(ROOT, 'errorfiles'),
    mapDir: MAP_DIR_TOKEN,
    crtList: '/run/fp/crt-list.txt',
    defaultPorts: [
      { address: '*', port: 80, ssl: false, options: '' },
      { address: '*', port: 443, ssl: true, options: '' },
    ],
    bindPorts: [],
    connectionMode: 'http-keep-alive',
    timeouts: { connect: 5, client: 20, server: 20, queue: 30, tunnel: 3600, httpRequest: 5, httpKeepAlive: 15 },
    retry: { retries: 3, on: ['conn-failure', 'empty-response', 'junk-response'], methods: ['GET', 'HEAD', 'OPTIONS'] },
    healthChecks: { enabled: true, intervalMs: 5000 },
    extraGlobal: [],
    extraFrontend: [],
    debug: false,
    users: [],
    captureRequestHeaders: [],
    resolvers: [],
    checkResolvers: false,
    sslBindOptions: 'no-sslv3',
    sslBindCiphers: 'ECDH+AESGCM',
    enableH2: true,
    hardStopAfter: '30s',
    maxReloads: 50,
    routeOrder: 'specific',
    spareBackends: 2,
    maxconn: 5000,
    ...over,
  };
}

const compiled = compileTemplates(loadTemplateSources(path.join(ROOT, 'templates')));

export function render(services: ServiceSpec[], settings: RenderSettings = baseSettings(), hasCerts = false, previous?: Model['layout']) {
  const model = buildModel({ settings, services, hasCerts, custom: new Map() }, previous && keepLiveNames(previous));
  return { model, ...renderFiles(compiled, model) };
}

/** Writes a rendered config and its maps to a temporary directory; returns the config path. */
export function writeConfig(files: { config: string; maps: Readonly<Record<string, string>> }): string {
  const dir = tempDir('fp-cfg-');
  fs.mkdirSync(path.join(dir, 'maps'));
  for (const [name, content] of Object.entries(files.maps)) fs.writeFileSync(path.join(dir, 'maps', name), content);
  const file = path.join(dir, 'haproxy.cfg');
  fs.writeFileSync(file, files.config.split(MAP_DIR_TOKEN).join(path.join(dir, 'maps')));
  return file;
}
