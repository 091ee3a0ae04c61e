import Handlebars from 'handlebars';
import type { BackendView } from './backend.js';
import type { ConfigView } from './model.js';

/** Template sources: the main haproxy.cfg template and its partials by name. */
export interface TemplateSources {
  main: string;
  partials: Readonly<Record<string, string>>;
}

/**
 * A compiled set of templates: the text of a view with its ownership markers (see renderConfig), or
 * without them (`plain`).
 */
export interface Compiled {
  (view: ConfigView): string;
  plain(view: ConfigView): string;
}

/** Ownership markers: a NUL line opens a block owned by services, a lone NUL closes it. User values never hold NUL. */
const MARK = '\u0000';

/** Every ownership marker line, with its line break. */
const MARKER_LINES = new RegExp(`^${MARK}[^\n]*\n`, 'gm');

/** Where `backendsText` goes in the main template's output, for the backends to be put in afterwards. */
const BACKENDS_AT = '\u0002BACKENDS\u0002';

/**
 * A backend's text without its ownership markers (the one to write), and what gives it back with
 * them: its owners when it is one owned block (`MARK owners \n plain MARK \n`, not kept twice),
 * else the marked text itself (a partial of the user's).
 */
type BackendText = { plain: string; owners: string } | { plain: string; marked: string };

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
 * template, as `renderedBackends` (one text each) and as `backendsText` (all
 * of them, each after a line break).
 *
 * The plain text of a main template that writes `backendsText` is put
 * together from pieces: the main template's own output without its markers,
 * and each backend's cached plain text. At 10,000 services that spares the
 * Handlebars loop over every backend and the copies of the whole text that
 * taking the markers out of it made: several MB to collect per reload.
 */
export function compileTemplates(sources: TemplateSources): Compiled {
  const hb = createEnvironment();
  for (const [name, source] of Object.entries(sources.partials)) {
    hb.registerPartial(name, hb.compile(source, { strict: true, noEscape: true }));
  }
  const main = hb.compile(sources.main, { strict: true, noEscape: true });
  const backend = hb.compile(sources.partials.backend ?? '', { strict: true, noEscape: true });
  // Owned by this compiled set of templates (the apply side keeps it): a backend view renders to the same text every time.
  const cache = new WeakMap<BackendView, BackendText>();
  // A main template of the user's (CFG_TEMPLATE_PATH) without the shared `defaults fp_std` gets every option on every line.
  const shared = /^defaults fp_std from /m.test(sources.main);
  const textOf = (view: BackendView): BackendText => {
    let text = cache.get(view);
    if (text === undefined) {
      const marked = backend(shared || !view.standard ? view : { ...view, standard: false });
      text = asBackendText(marked);
      cache.set(view, text);
    }
    return text;
  };
  const markedOf = (view: BackendView): string => {
    const t = textOf(view);
    return 'marked' in t ? t.marked : `${MARK}${t.owners}\n${t.plain}${MARK}\n`;
  };
  // The view a main template sees; the backends' texts are made only for a template that reads them.
  const context = (view: ConfigView, backendsText: () => string) => {
    const ctx: Record<string, unknown> = { ...view };
    let rendered: string[] | undefined;
    let text: string | undefined;
    Object.defineProperty(ctx, 'renderedBackends', { enumerable: true, get: () => (rendered ??= view.backends.map(markedOf)) });
    Object.defineProperty(ctx, 'backendsText', { enumerable: true, get: () => (text ??= backendsText()) });
    return ctx;
  };
  const joined = (view: ConfigView, each: (b: BackendView) => string, head = '', tail = '') => {
    const pieces: string[] = [head];
    for (const b of view.backends) pieces.push('\n', each(b));
    pieces.push(tail);
    return pieces.join('');
  };
  const compiled = (view: ConfigView) => main(context(view, () => joined(view, markedOf)));
  // Only for a template that writes backendsText (a user's that loops over renderedBackends renders once, whole).
  const writesBackendsText = sources.main.includes('backendsText');
  compiled.plain = (view: ConfigView) => {
    const whole = () => compiled(view).replace(MARKER_LINES, '');
    // With no backend, backendsText is empty: a placeholder would be a text where the template tests for one.
    if (!writesBackendsText || view.backends.length === 0) return whole();
    const parts = main(context(view, () => BACKENDS_AT)).replace(MARKER_LINES, '').split(BACKENDS_AT);
    // A marker line right after the backends starts a line in the whole text, not after the placeholder.
    if (parts.length === 1 || parts.slice(1).some((p) => p.startsWith(MARK))) return whole();
    const plainOf = (b: BackendView) => textOf(b).plain;
    return parts.slice(1).reduce((text, part) => joined(view, plainOf, text, part), parts[0] as string);
  };
  return compiled;
}

/** A backend's rendered text, kept flat (not as the rope of pieces the template made), with its markers taken out. */
function asBackendText(marked: string): BackendText {
  const plain = flat(marked.replace(MARKER_LINES, ''));
  const open = marked.indexOf('\n');
  const owners = marked.startsWith(MARK) && open > 0 ? marked.slice(1, open) : undefined;
  if (owners !== undefined && owners !== '' && marked === `${MARK}${owners}\n${plain}${MARK}\n`) return { plain, owners: flat(owners) };
  return { plain, marked: flat(marked) };
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
  return owners ? stripMarkers(compiled(view)) : { text: compiled.plain(view), owners: [] };
}

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
