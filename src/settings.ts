// The settings live in src/settings/: schema.ts (each variable once), parse.ts (pure), load.ts (the machine).
export type { SettingsHost } from './settings/fields.js';
export { findInPath, loadSettings, machineHost } from './settings/load.js';
export { parseSettings } from './settings/parse.js';
export type { Env, Settings, SettingsResult } from './settings/types.js';
