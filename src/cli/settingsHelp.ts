import { SETTING_LIST } from '../settings/schema.js';

/** One environment variable of `flow-proxy run`, as `flow-proxy --help` lists it. */
export interface SettingHelp {
  name: string;
  /** The default, in words ('' when unset means off). */
  default: string;
  meaning: string;
  /** Also read from the Docker secret /run/secrets/dfp_<lower-case name>, which wins. */
  secret?: boolean;
}

/**
 * Every variable of src/settings/schema.ts (the one definition of each),
 * grouped as the README's tables group them.
 */
export const SETTINGS_HELP: ReadonlyArray<{ group: string; settings: SettingHelp[] }> = groups();

function groups(): Array<{ group: string; settings: SettingHelp[] }> {
  const out: Array<{ group: string; settings: SettingHelp[] }> = [];
  for (const s of SETTING_LIST) {
    const help: SettingHelp = { name: [s.name, ...(s.also ?? [])].join(', '), default: s.default, meaning: s.doc, ...(s.secret && { secret: true }) };
    const last = out[out.length - 1];
    if (last?.group === s.group) last.settings.push(help);
    else out.push({ group: s.group, settings: [help] });
  }
  return out;
}

/** The settings as `--help` prints them: name, default and meaning, wrapped to `width`. */
export function formatSettingsHelp(width = 100): string {
  const out: string[] = ['Settings: environment variables of `flow-proxy run` (S: also read from the Docker secret', '/run/secrets/dfp_<lower-case name>, which wins). Every invalid one is reported at start.'];
  const column = 30;
  for (const { group, settings } of SETTINGS_HELP) {
    out.push('', `  ${group}`);
    for (const s of settings) {
      const name = `    ${s.name}${s.secret ? ' (S)' : ''}`;
      const fallback = s.default.replace(/^\((.*)\)$/, '$1');
      const text = `${s.meaning} ${fallback === '' ? '(default: unset)' : `(default: ${fallback})`}`;
      const lines = wrap(text, width - column);
      if (name.length + 2 > column) out.push(name, ...lines.map((l) => ' '.repeat(column) + l));
      else out.push(name.padEnd(column) + (lines[0] ?? ''), ...lines.slice(1).map((l) => ' '.repeat(column) + l));
    }
  }
  return out.join('\n');
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + word.length + 1 > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(line);
  return lines;
}
