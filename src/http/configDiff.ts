import { createTwoFilesPatch, FILE_HEADERS_ONLY } from 'diff';
import { MAP_DIR_TOKEN, type ConfigFiles } from '../core/ports.js';
import { redactConfig } from './serviceJson.js';

/** Beyond this many changed lines a diff is summarised instead of computed (a 10,000-route rebuild). */
const MAX_EDIT = 20_000;

/**
 * A unified diff (`--- a/haproxy.cfg` / `+++ b/haproxy.cfg`, then
 * `maps/<file>.map`) from the live files to the candidate ones, with the map
 * directory shown as `mapDir` and passwords redacted as `/config` shows them.
 * Empty when nothing differs.
 */
export function configDiff(live: ConfigFiles, candidate: ConfigFiles, mapDir: string): string {
  const show = (text: string) => redactConfig(text.split(MAP_DIR_TOKEN).join(mapDir));
  const parts = [patch('haproxy.cfg', show(live.config), show(candidate.config))];
  const names = [...new Set([...Object.keys(live.maps), ...Object.keys(candidate.maps)])].sort();
  for (const name of names) parts.push(patch(`maps/${name}`, live.maps[name] ?? '', candidate.maps[name] ?? ''));
  return parts.join('');
}

function patch(file: string, before: string, after: string): string {
  if (before === after) return '';
  const text = createTwoFilesPatch(`a/${file}`, `b/${file}`, before, after, undefined, undefined, { context: 3, headerOptions: FILE_HEADERS_ONLY, maxEditLength: MAX_EDIT });
  if (text !== undefined) return text;
  const count = (s: string) => (s === '' ? 0 : s.split('\n').length - (s.endsWith('\n') ? 1 : 0));
  return `--- a/${file}\n+++ b/${file}\n@@ -1,${count(before)} +1,${count(after)} @@ (more than ${MAX_EDIT} lines change; not shown)\n`;
}
