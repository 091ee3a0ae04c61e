import fs from 'node:fs';
import path from 'node:path';

/**
 * Writes a file so that a crash leaves either the old or the new content:
 * temp file, fsync, rename over the target, fsync of the directory.
 * `durable: false` keeps the atomic rename (a reader never sees half a file)
 * but skips both fsyncs: for files derived from stored state and rewritten
 * from it at every start (HAProxy's config and maps), where an fsync would
 * only add to the latency of every apply. Content given as pieces is
 * written one after the other, never joined into one string first.
 */
export function writeFileAtomic(file: string, content: string | Buffer | readonly string[], mode = 0o600, durable = true): void {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`);
  const fd = fs.openSync(tmp, 'w', mode);
  try {
    if (typeof content === 'string' || Buffer.isBuffer(content)) fs.writeFileSync(fd, content);
    else for (const piece of content) fs.writeFileSync(fd, piece);
    if (durable) fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  try {
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  if (durable) syncDir(dir);
}

export function syncDir(dir: string): void {
  try {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // some file systems refuse fsync on directories; the rename is still atomic
  }
}

/**
 * Makes `to` name the content of `from`, replacing it atomically: a hard link (the content stays as it is
 * while `from` is later replaced by writeFileAtomic, a rename), or a copy where links are refused.
 */
export function linkOrCopy(from: string, to: string): void {
  // Already one file (a map written once and linked before): a rename between two of its names does nothing, and would leave the temp name behind.
  const a = fs.statSync(from, { throwIfNoEntry: false });
  const b = fs.statSync(to, { throwIfNoEntry: false });
  if (a && b && a.ino === b.ino && a.dev === b.dev) return;
  const tmp = path.join(path.dirname(to), `.${path.basename(to)}.${process.pid}.link`);
  fs.rmSync(tmp, { force: true });
  try {
    fs.linkSync(from, tmp);
    fs.renameSync(tmp, to);
  } catch {
    fs.rmSync(tmp, { force: true });
    writeFileAtomic(to, fs.readFileSync(from), 0o600, false);
  }
}
