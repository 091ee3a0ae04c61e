import fs from 'node:fs';
import path from 'node:path';
import type { SettingsHost } from './fields.js';
import { parseSettings } from './parse.js';
import type { Env, SettingsResult } from './types.js';

/** The executable `bin` (a path, or a name looked up in `envPath` the way a shell does). */
export function findInPath(bin: string, envPath: string | undefined): string | undefined {
  if (bin.includes('/')) return fs.existsSync(bin) ? bin : undefined;
  for (const dir of (envPath ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    const candidate = path.join(dir, bin);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

/** This machine, as parseSettings asks it: files, PATH, relative to `cwd`. */
export function machineHost(cwd: string): SettingsHost {
  return { cwd, exists: (file) => fs.existsSync(file), findInPath, readFile: (file) => fs.readFileSync(file, 'utf8') };
}

/**
 * Reads the environment (and docker-flow-proxy's /run/secrets/dfp_* files)
 * into Settings, asking this machine for files and PATH. Every invalid
 * variable is reported, not just the first.
 */
export function loadSettings(env: Env, readSecret: (name: string) => string | undefined = () => undefined, cwd = process.cwd()): SettingsResult {
  return parseSettings(env, readSecret, machineHost(cwd));
}
