import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { FlowError } from '../../domain/errors.js';
import type { Store, StoredState } from '../../core/ports.js';
import { writeFileAtomic } from '../fsAtomic.js';

const FORMAT = 'flow-proxy/1';

interface OnDisk {
  format: string;
  version: number;
  services: StoredState['services'];
  removed?: StoredState['removed'];
  sha256: string;
}

/**
 * The embedded store: one JSON file written atomically, with a checksum and
 * a backup of the previous good state. A damaged file is never taken for an
 * empty registry: the backup is restored, or start is refused.
 */
export class FileStore implements Store {
  readonly file: string;
  readonly backup: string;
  /** The main file holds what this process last read and verified, or wrote: it can become the backup as is. */
  private mainVerified = false;

  constructor(dataDir: string, private readonly log?: { warn(o: object, m?: string): void }) {
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    this.file = path.join(dataDir, 'state.json');
    this.backup = path.join(dataDir, 'state.json.bak');
  }

  async load(): Promise<StoredState | undefined> {
    if (!fs.existsSync(this.file)) {
      if (fs.existsSync(this.backup)) return this.restoreBackup('the state file is missing');
      return undefined;
    }
    const main = readState(this.file);
    if (main.ok) {
      this.mainVerified = true;
      return main.state;
    }
    if (fs.existsSync(this.backup)) return this.restoreBackup(main.reason);
    throw new FlowError('STATE_CORRUPT', `state file ${this.file} is unreadable (${main.reason}) and there is no backup; refusing to start with an empty registry. Fix the file, or move it away to start empty.`);
  }

  private restoreBackup(reason: string): StoredState {
    const backup = readState(this.backup);
    if (!backup.ok) {
      throw new FlowError('STATE_CORRUPT', `state file ${this.file}: ${reason}; its backup ${this.backup} is unreadable too (${backup.reason}). Refusing to start with an empty registry.`);
    }
    if (fs.existsSync(this.file)) fs.copyFileSync(this.file, `${this.file}.corrupt-${Date.now()}`);
    writeFileAtomic(this.file, fs.readFileSync(this.backup));
    this.mainVerified = true;
    this.log?.warn({ file: this.file, reason }, 'state file damaged; restored the backup');
    return backup.state;
  }

  async save(state: StoredState): Promise<void> {
    const body = { version: state.version, services: state.services, ...(state.removed && state.removed.length > 0 && { removed: state.removed }) };
    // Serialised once: the checksum is over this text, and the file is the same fields with format and checksum around them.
    const bodyText = JSON.stringify(body);
    const sha256 = sha256Hex(bodyText);
    const text = `{${JSON.stringify('format')}:${JSON.stringify(FORMAT)},${bodyText.slice(1, -1)},${JSON.stringify('sha256')}:${JSON.stringify(sha256)}}\n`;
    // The previous state becomes the backup by a rename (cheap, atomic); a crash before the new main
    // file lands leaves no main file, and load() then restores the backup.
    const renamed = this.mainVerified && fs.existsSync(this.file);
    if (renamed) fs.renameSync(this.file, this.backup);
    else if (fs.existsSync(this.file) && readState(this.file).ok) fs.copyFileSync(this.file, this.backup);
    try {
      writeFileAtomic(this.file, text);
    } catch (e) {
      // Disk full or the like: the previous state goes back in place (a rename needs no space).
      if (renamed && !fs.existsSync(this.file)) fs.renameSync(this.backup, this.file);
      throw e;
    }
    this.mainVerified = true;
  }
}

function sha256Hex(text: string): string {
  return crypto.createHash('sha256').update(text).digest('hex');
}

function readState(file: string): { ok: true; state: StoredState } | { ok: false; reason: string } {
  let parsed: OnDisk;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as OnDisk;
  } catch (e) {
    return { ok: false, reason: `not valid JSON: ${e instanceof Error ? e.message : String(e)}` };
  }
  if (parsed?.format !== FORMAT || !Array.isArray(parsed.services) || typeof parsed.version !== 'number') {
    return { ok: false, reason: 'not a flow-proxy state file' };
  }
  const body = { version: parsed.version, services: parsed.services, ...(parsed.removed && { removed: parsed.removed }) };
  if (sha256Hex(JSON.stringify(body)) !== parsed.sha256) return { ok: false, reason: 'checksum mismatch' };
  return { ok: true, state: body };
}
