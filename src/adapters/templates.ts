import fs from 'node:fs';
import path from 'node:path';
import type { CustomTemplates } from '../core/ports.js';
import type { ServiceSpec } from '../domain/spec.js';
import { renderUserTemplate, type TemplateSources } from '../render/render.js';
import { hasControl } from '../domain/haproxyText.js';
import { canonicalBackendName } from '../render/backend.js';

/**
 * Reads the main template and its partials from the built-in directory,
 * with files of the same name in `overrideDir` taking their place.
 */
export function loadTemplateSources(builtinDir: string, overrideDir?: string, mainFile?: string): TemplateSources {
  const pick = (relative: string) => {
    const custom = overrideDir ? path.join(overrideDir, relative) : undefined;
    return fs.readFileSync(custom && fs.existsSync(custom) ? custom : path.join(builtinDir, relative), 'utf8');
  };
  const partialDir = path.join(builtinDir, 'partials');
  const partials: Record<string, string> = {};
  for (const file of fs.readdirSync(partialDir)) {
    if (file.endsWith('.hbs')) partials[file.slice(0, -4)] = pick(path.join('partials', file));
  }
  return { main: mainFile ? fs.readFileSync(mainFile, 'utf8') : pick('haproxy.cfg.hbs'), partials };
}

/** Reads a template file or a consul:// key. */
export type TemplateReader = (location: string) => Promise<string>;

export const fileTemplateReader: TemplateReader = async (location) => {
  if (location.startsWith('consul://')) throw new Error(`${location}: Consul templates need STORE=consul`);
  return fs.promises.readFile(location, 'utf8');
};

/**
 * Per-service templates (templateFePath / templateBePath), rendered with the
 * service in docker-flow-proxy's field names as well as ours. Their output
 * is checked like any raw text: no control characters but newlines.
 */
export class ServiceTemplates implements CustomTemplates {
  constructor(private readonly read: TemplateReader) {}

  async render(spec: ServiceSpec): Promise<{ frontend?: string; backend?: string }> {
    const context = templateContext(spec);
    const out: { frontend?: string; backend?: string } = {};
    if (spec.templateFePath !== undefined) out.frontend = checkOutput(renderUserTemplate(await this.read(spec.templateFePath), context), spec.templateFePath);
    if (spec.templateBePath !== undefined) out.backend = checkOutput(renderUserTemplate(await this.read(spec.templateBePath), context), spec.templateBePath);
    return out;
  }
}

function checkOutput(text: string, location: string): string {
  if (text.split('\n').some((line) => hasControl(line))) throw new Error(`${location} produced a control character`);
  if (/^\s*(global|defaults)\b/m.test(text)) throw new Error(`${location} may not open a global or defaults section`);
  return text.replace(/\s+$/, '');
}

/** docker-flow-proxy's template data (ServiceName, AclName, ServiceDest[...]) plus the spec itself. */
export function templateContext(spec: ServiceSpec): Record<string, unknown> {
  return {
    ...spec,
    ServiceName: spec.serviceName,
    AclName: spec.aclName,
    ServiceDomainAlgo: spec.serviceDomainAlgo ?? '',
    ConnectionMode: spec.connectionMode ?? '',
    ServiceDest: spec.destinations.map((d) => ({
      ...d,
      Port: d.port === undefined ? '' : String(d.port),
      ServicePath: d.servicePath,
      ServiceDomain: d.serviceDomain,
      SrcPort: d.srcPort ?? 0,
      ReqMode: d.reqMode,
      Index: d.index,
      UserDef: d.userDef ?? '',
      OutboundHostname: d.outboundHostname ?? spec.serviceName,
      /** The backend name flow-proxy's routes point at; a custom backend template should define it. */
      BackendName: d.port !== undefined ? canonicalBackendName(spec, d, d.reqMode === 'http' ? 'http' : 'tcp') : '',
    })),
  };
}
