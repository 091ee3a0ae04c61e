import fs from 'node:fs';
import path from 'node:path';
import { BUILD } from './flowProxy.js';

/**
 * Figures a robustness test measured (inputs tried, requests served and
 * failed, state lost...), appended as JSON lines to figures.jsonl in the
 * build the tests run from (.test-build/ under `npm test`, else dist/), for
 * docs/reliability.md.
 */
export function recordFigure(name: string, figures: Record<string, number | string | number[]>): void {
  const file = path.join(BUILD, 'figures.jsonl');
  fs.appendFileSync(file, `${JSON.stringify({ name, at: new Date().toISOString(), ...figures })}\n`);
}
