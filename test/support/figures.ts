import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from './flowProxy.js';

/**
 * Figures a robustness test measured (inputs tried, requests served and
 * failed, state lost...), appended as JSON lines to dist/figures.jsonl so
 * that `node dist/test/support/reportFigures.js` can print them for
 * docs/reliability.md.
 */
export function recordFigure(name: string, figures: Record<string, number | string | number[]>): void {
  const file = path.join(ROOT, 'dist', 'figures.jsonl');
  fs.appendFileSync(file, `${JSON.stringify({ name, at: new Date().toISOString(), ...figures })}\n`);
}
