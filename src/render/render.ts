import Handlebars from 'handlebars';
import type { BackendView } from './backend.js';
import type { ConfigView } from './model.js';

/** Template sources: the main haproxy.cfg template and its partials by name. */
export interface TemplateSources {
  main: string;
  partials: Readonly<Record<string, string>>;
}

export type Compiled = (view: ConfigView) => string;

/** Ownership markers: a NUL line opens a block owned by services, a lone NUL closes it. User values never hold NUL. */
const MARK = '\u0000';

/** A Handlebars environment of our own: strict, unescaped (HAProxy config is not HTML). */
export function createEnvironment(): typeof Handlebars {
  const hb = Handlebars.create();
  hb.registerHelper('owned', function (this: unknown, owner: unknown, options: Handlebars.HelperOptions) {
    const owners = Array.isArray(owner) ? owner.join(',') : typeof owner === 'string' ? owner : '';
    const body = options.fn(this);
    return owners ? `${MARK}${owners}\n${body}${MARK}\n` : body;
  });
  hb.registerHelper('defined', (value: unknown) => value !== undefined && value !== null);
  hb.registerHelper('eq', (a: unknown, b: unknown) => a === b);
  hb.registerHelper('or', (...args: unknown[]) => args.slice(0, -1).some(Boolean));
  return hb;
}

/**
 * Compiles the main template and its partials. Backends are rendered one by
 * one with the `backend` partial and cached per view object (views of
 * unchanged services are reused across applies), then handed to the main
 * template as `renderedBackends`.
 */
export function compileTemplates(sources: TemplateSources): Compiled {
  const hb = createEnvironment();
  for (const [name, source] of Object.entries(sources.partials)) {
    hb.registerPartial(name, hb.compile(source, { strict: true, noEscape: true }));
  }
  const main = hb.compile(sources.main, { strict: true, noEscape: true });
  const backend = hb.compile(sources.partials.backend ?? '', { strict: true, noEscape: true });
  // Owned by this compiled set of templates (the apply side keeps it): a backend view renders to the same text every time.
  const cache = new WeakMap<BackendView, string>();
  // A main template of the user's (CFG_TEMPLATE_PATH) without the shared `defaults fp_std` gets every option on every line.
  const shared = /^defaults fp_std from /m.test(sources.main);
  const renderBackend = (view: BackendView) => {
    let text = cache.get(view);
    if (text === undefined) {
      // Kept for as long as the view lives: stored flat, not as the rope of pieces the template made.
      text = flat(backend(shared || !view.standard ? view : { ...view, standard: false }));
      cache.set(view, text);
    }
    return text;
  };
  return (view) => main({ ...view, renderedBackends: view.backends.map(renderBackend) });
}

/** The same text in one piece (slicing a concatenation makes V8 flatten it). */
function flat(text: string): string {
  return ` ${text}`.slice(1);
}

/** Renders a user template (templateFePath/templateBePath) against a service's context. */
export function renderUserTemplate(source: string, context: unknown): string {
  const hb = createEnvironment();
  return hb.compile(source, { noEscape: true })(context);
}

export interface Rendered {
  text: string;
  /** For each line of text (0-based), the services that own it, if any. */
  owners: ReadonlyArray<readonly string[] | undefined>;
}

/**
 * Renders the view and turns ownership markers into a line → owners table; without `owners` (files
 * no check will blame lines of) the markers are only taken out, which costs a fraction at 10,000 services.
 */
export function renderConfig(compiled: Compiled, view: ConfigView, owners = true): Rendered {
  const raw = compiled(view);
  return owners ? stripMarkers(raw) : { text: raw.replace(MARKER_LINES, ''), owners: [] };
}

/** Every ownership marker line, with its line break. */
const MARKER_LINES = new RegExp(`^${MARK}[^\n]*\n`, 'gm');

export function stripMarkers(raw: string): Rendered {
  const lines = raw.split('\n');
  const out: string[] = [];
  const owners: Array<readonly string[] | undefined> = [];
  const stack: string[][] = [];
  for (const line of lines) {
    if (line.startsWith(MARK)) {
      const rest = line.slice(1);
      if (rest === '') stack.pop();
      else stack.push(rest.split(','));
      continue;
    }
    out.push(line);
    owners.push(stack.length > 0 ? stack[stack.length - 1] : undefined);
  }
  return { text: out.join('\n'), owners };
}
