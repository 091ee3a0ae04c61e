import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { FlowError } from '../../domain/errors.js';
import type { Store, StoredChanges, StoredState } from '../../core/ports.js';
import { syncDir, writeFileAtomic } from '../fsAtomic.js';

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
 * a backup copy. A damaged file is never taken for an empty registry: the
 * backup is restored, or start is refused.
 *
 * Changes between full writes go to a journal beside it (`state.journal`):
 * one line per apply with what it changed, its own checksum and the checksum
 * of the state file it applies to, appended and fsynced. Loading replays the
 * lines that belong to the state file read, up to the first damaged one (a
 * write cut short). Every COMPACT_AFTER lines, or JOURNAL_MAX_BYTES, the
 * whole state is written again and the journal starts over.
 */

/** Journal lines before the whole state is written again. */
export const COMPACT_AFTER = 2000;
const JOURNAL_MAX_BYTES = 4 * 1024 * 1024;

interface JournalLine {
  base: string;
  change: StoredChanges;
  sha256: string;
}
export class FileStore implements Store {
  readonly file: string;
  readonly backup: string;
  readonly journal: string;
  /** Checksum of the state file on disk, which journal lines name as their base; undefined: no verified file yet. */
  private base: string | undefined;
  private journalLines = 0;
  private journalBytes = 0;
  /** The main file holds what this process last read and verified, or wrote: it can become the backup as is. */
  private mainVerified = false;

  constructor(dataDir: string, private readonly log?: { warn(o: object, m?: string): void }) {
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    this.file = path.join(dataDir, 'state.json');
    this.backup = path.join(dataDir, 'state.json.bak');
    this.journal = path.join(dataDir, 'state.journal');
  }

  async load(): Promise<StoredState | undefined> {
    if (!fs.existsSync(this.file)) {
      if (fs.existsSync(this.backup)) return this.restoreBackup('the state file is missing');
      return undefined;
    }
    const main = readState(this.file);
    if (main.ok) {
      this.mainVerified = true;
      return this.replay(main.state, main.sha256);
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
    return this.replay(backup.state, backup.sha256);
  }

  /** The state with the journal lines written on top of this file (checksum `sha256`) applied. */
  private replay(state: StoredState, sha256: string): StoredState {
    this.base = sha256;
    this.journalLines = 0;
    this.journalBytes = 0;
    if (!fs.existsSync(this.journal)) return state;
    const text = fs.readFileSync(this.journal, 'utf8');
    const services = new Map(state.services.map((s) => [s.params.serviceName ?? '', s]));
    const removed = new Map((state.removed ?? []).map((t) => [t.name, t]));
    let version = state.version;
    let applied = 0;
    let good = 0;
    for (const raw of text.split('\n')) {
      if (raw === '') break;
      const line = parseLine(raw);
      if (!line) {
        this.log?.warn({ file: this.journal, line: applied + 1 }, 'state journal line damaged (a write cut short); the lines before it are kept');
        break;
      }
      if (line.base !== sha256) {
        if (applied === 0) this.log?.warn({ file: this.journal }, 'state journal belongs to another state file; ignored');
        break;
      }
      for (const s of line.change.set) services.set(s.params.serviceName ?? '', s);
      for (const name of line.change.del) services.delete(name);
      for (const t of line.change.removed) removed.set(t.name, t);
      for (const name of line.change.forgotten) removed.delete(name);
      version = line.change.version;
      applied++;
      good += Buffer.byteLength(raw) + 1;
    }
    // A damaged tail, or lines written on top of another state file, are cut off (kept aside), so
    // that the next line appended follows a good one.
    if (good < Buffer.byteLength(text)) {
      fs.copyFileSync(this.journal, `${this.journal}.cut-${Date.now()}`);
      fs.truncateSync(this.journal, good);
    }
    if (applied === 0) return state;
    this.journalLines = applied;
    this.journalBytes = good;
    const list = [...removed.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
    return { version, services: [...services.values()].sort((a, b) => ((a.params.serviceName ?? '') < (b.params.serviceName ?? '') ? -1 : 1)), ...(list.length > 0 && { removed: list }) };
  }

  /** Appends what one apply changed; the whole state is written instead when there is no base yet or the journal is long. */
  async saveChanges(changes: StoredChanges, full: () => StoredState): Promise<void> {
    if (this.base === undefined || this.journalLines >= COMPACT_AFTER || this.journalBytes >= JOURNAL_MAX_BYTES || !fs.existsSync(this.file)) {
      await this.save(full());
      return;
    }
    const line = Buffer.from(`${JSON.stringify({ base: this.base, change: changes, sha256: sha256Hex(JSON.stringify(changes)) })}\n`);
    const created = this.journalBytes === 0;
    const fd = fs.openSync(this.journal, 'a', 0o600);
    try {
      // A write may take only part of the line (a file size limit): the rest follows, or the write fails.
      for (let done = 0; done < line.length;) {
        const n = fs.writeSync(fd, line, done, line.length - done);
        if (n <= 0) throw new FlowError('STORE_WRITE', `the state journal ${this.journal} took no more bytes`);
        done += n;
      }
      fs.fsyncSync(fd);
    } catch (e) {
      // Disk full or the like: what was written of this line goes, the journal ends with the last good line.
      try {
        fs.ftruncateSync(fd, this.journalBytes);
      } catch (cut) {
        this.log?.warn({ file: this.journal, err: cut instanceof Error ? cut.message : String(cut) }, 'could not cut a partly written journal line; the next load drops it');
      }
      throw e;
    } finally {
      fs.closeSync(fd);
    }
    if (created) syncDir(path.dirname(this.journal));
    this.journalLines++;
    this.journalBytes += line.length;
  }

  async save(state: StoredState): Promise<void> {
    const body = { version: state.version, services: state.services, ...(state.removed && state.removed.length > 0 && { removed: state.removed }) };
    // Serialised once: the checksum is over this text, and the file is the same fields with format and checksum around them.
    const bodyText = JSON.stringify(body);
    const sha256 = sha256Hex(bodyText);
    const text = `{${JSON.stringify('format')}:${JSON.stringify(FORMAT)},${bodyText.slice(1, -1)},${JSON.stringify('sha256')}:${JSON.stringify(sha256)}}\n`;
    // The previous state becomes the backup by a rename (cheap, atomic, and it frees the old backup's
    // room); a crash before the new main file lands leaves no main file, and load() then restores it.
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
    this.base = sha256;
    // The backup becomes a copy of this file, so that the journal written on top of it applies to
    // either; when there is no room for the copy, the backup stays the previous state.
    try {
      writeFileAtomic(this.backup, text);
    } catch (e) {
      this.log?.warn({ file: this.backup, err: e instanceof Error ? e.message : String(e) }, 'could not refresh the state backup; it holds the previous state');
    }
    // The journal's lines are in the new file now; a crash before it goes leaves lines of another base, which load ignores.
    fs.rmSync(this.journal, { force: true });
    this.journalLines = 0;
    this.journalBytes = 0;
  }
}

function sha256Hex(text: string): string {
  return crypto.createHash('sha256').update(text).digest('hex');
}

function parseLine(raw: string): JournalLine | undefined {
  try {
    const line = JSON.parse(raw) as JournalLine;
    const c = line?.change;
    if (typeof line.base !== 'string' || !c || !Array.isArray(c.set) || !Array.isArray(c.del) || !Array.isArray(c.removed) || !Array.isArray(c.forgotten) || typeof c.version !== 'number') return undefined;
    return sha256Hex(JSON.stringify(c)) === line.sha256 ? line : undefined;
  } catch {
    return undefined;
  }
}

function readState(file: string): { ok: true; state: StoredState; sha256: string } | { ok: false; reason: string } {
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
  return { ok: true, state: body, sha256: parsed.sha256 };
}
