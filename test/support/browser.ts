import fs from 'node:fs';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { tempDir } from './tmp.js';

export const CHROMIUM = '/usr/bin/chromium';

/** Debian's chromium, headless, with a fresh profile and nothing that phones home. */
export async function launchChromium(): Promise<BrowserContext> {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run installs it)`);
  return chromium.launchPersistentContext(tempDir('fp-chromium-'), {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1440, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** The page's visible text, as a person (or a screen reader) gets it. */
export function visibleText(page: Page): Promise<string> {
  return page.evaluate(() => document.body.innerText);
}

/** Waits until the visible text satisfies `ok`; returns how long it took, or throws with the last text. */
export async function waitForText(page: Page, ok: (text: string) => boolean, timeoutMs: number): Promise<number> {
  const started = Date.now();
  let text = '';
  while (Date.now() - started < timeoutMs) {
    text = await visibleText(page);
    if (ok(text)) return Date.now() - started;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the page did not show what was expected within ${timeoutMs} ms; it shows:\n${text}`);
}
