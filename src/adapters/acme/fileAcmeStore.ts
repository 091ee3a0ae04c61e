import fs from 'node:fs';
import path from 'node:path';
import type { AcmeLocal, AcmeSnapshot } from '../../core/acme/acmePorts.js';
import { writeFileAtomic } from '../fsAtomic.js';

const EMPTY: AcmeSnapshot = { accounts: [], certs: [], statuses: [] };

/**
 * ACME's state in `DATA_DIR/acme/state.json` (mode 600: it holds account
 * and certificate keys), written atomically and durably at every change.
 */
export class FileAcmeStore implements AcmeLocal {
  readonly file: string;

  constructor(dir: string, private readonly log: { warn(o: object, m?: string): void }) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.file = path.join(dir, 'state.json');
  }

  load(): AcmeSnapshot {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch {
      return EMPTY;
    }
    try {
      const parsed = JSON.parse(text) as Partial<AcmeSnapshot>;
      return { accounts: parsed.accounts ?? [], certs: parsed.certs ?? [], statuses: parsed.statuses ?? [] };
    } catch (e) {
      this.log.warn({ file: this.file, err: (e as Error).message }, 'the ACME state file is unreadable; starting without it');
      return EMPTY;
    }
  }

  save(snapshot: AcmeSnapshot, durable = true): void {
    const { challenges: _c, ...kept } = snapshot;
    writeFileAtomic(this.file, JSON.stringify(kept), 0o600, durable);
  }
}
