import fs from 'node:fs';
import path from 'node:path';
import { MAP_DIR_TOKEN, type ConfigFiles } from '../../core/ports.js';
import { checkConfig, type CheckResult } from './check.js';

/**
 * `haproxy -c` of a config in a directory of its own, for dry runs: the
 * candidate directory of the data plane belongs to applies, which may run
 * at the same moment. Each call gets a fresh directory (`<dir>/<n>/candidate`,
 * so HAProxy's messages name `candidate/haproxy.cfg` as an apply's do) and
 * removes it afterwards.
 */
export function checkAside(haproxyBin: string, dir: string): (files: ConfigFiles) => Promise<CheckResult> {
  return async (files) => {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const root = fs.mkdtempSync(path.join(dir, 'dry-'));
    try {
      const candidate = path.join(root, 'candidate');
      const maps = path.join(candidate, 'maps');
      fs.mkdirSync(maps, { recursive: true, mode: 0o700 });
      for (const [name, content] of Object.entries(files.maps)) fs.writeFileSync(path.join(maps, name), content, { mode: 0o600 });
      const config = path.join(candidate, 'haproxy.cfg');
      fs.writeFileSync(config, files.config.split(MAP_DIR_TOKEN).join(maps), { mode: 0o600 });
      return await checkConfig(haproxyBin, config);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  };
}
