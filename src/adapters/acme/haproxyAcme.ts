import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FlowError } from '../../domain/errors.js';
import { writeFileAtomic } from '../fsAtomic.js';
import { cliBatch, cliCommand } from '../haproxy/cli.js';

/** HTTP-01 tokens and key authorizations are base64url (RFC 8555 §8.1, §8.3); nothing else reaches the map. */
const TOKEN = /^[A-Za-z0-9_-]{1,256}$/;
const KEY_AUTHORIZATION = /^[A-Za-z0-9_-]{1,256}\.[A-Za-z0-9_-]{1,128}$/;
export const CHALLENGE_PREFIX = '/.well-known/acme-challenge/';

export function validChallenge(token: string, keyAuthorization: string): boolean {
  return TOKEN.test(token) && KEY_AUTHORIZATION.test(keyAuthorization) && keyAuthorization.startsWith(`${token}.`);
}

export interface HaproxyAcmeOptions {
  adminSocket: string;
  /** The crt-list the `:ssl` binds read, as named in haproxy.cfg. */
  crtList: string;
  /** The map the frontend answers HTTP-01 tokens from. */
  challengeMap: string;
  log: { warn(o: object, m?: string): void; debug(o: object, m?: string): void };
}

/**
 * What ACME changes in a running HAProxy, without a reload: the challenge
 * map (file first, so a reload reads the same, then `add/set/del map`) and
 * issued certificates (file first, then `new/set/commit ssl cert` and
 * `add ssl crt-list`). One change at a time.
 */
export class HaproxyAcme {
  private installed = new Map<string, string>();
  private turn: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: HaproxyAcmeOptions) {
    fs.mkdirSync(path.dirname(o.challengeMap), { recursive: true, mode: 0o700 });
    if (!fs.existsSync(o.challengeMap)) writeFileAtomic(o.challengeMap, '', 0o600, false);
  }

  private inTurn<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.turn.then(fn, fn);
    this.turn = run.catch(() => undefined);
    return run;
  }

  /** Makes the challenge map hold exactly these tokens (token -> key authorization). */
  setChallenges(wanted: ReadonlyMap<string, string>): Promise<void> {
    return this.inTurn(async () => {
      const valid = new Map([...wanted].filter(([t, k]) => validChallenge(t, k)));
      const text = [...valid].map(([t, k]) => `${CHALLENGE_PREFIX}${t} ${k}\n`).join('');
      writeFileAtomic(this.o.challengeMap, text, 0o600, false);
      const commands: string[] = [];
      for (const [t, k] of valid) if (this.installed.get(t) !== k) commands.push(`set map ${this.o.challengeMap} ${CHALLENGE_PREFIX}${t} ${k}`);
      for (const t of this.installed.keys()) if (!valid.has(t)) commands.push(`del map ${this.o.challengeMap} ${CHALLENGE_PREFIX}${t}`);
      if (commands.length > 0) {
        const answers = await retrying(() => cliBatch(this.o.adminSocket, commands, { timeoutMs: 5000 }));
        // `set map` answers "entry not found" for a new key: add it (a reload may have loaded it from the file meanwhile, which `set` covers).
        const adds = commands.filter((c, i) => c.startsWith('set map ') && /not found/i.test(answers[i] ?? '')).map((c) => c.replace(/^set map /, 'add map '));
        if (adds.length > 0) await retrying(() => cliBatch(this.o.adminSocket, adds, { timeoutMs: 5000 }));
      }
      this.installed = valid;
    });
  }

  /**
   * Serves a certificate whose file (certificate, chain, key) is already
   * written and listed in the crt-list file: loads it into HAProxy's memory
   * and, when it is new, into the crt-list of the binds.
   */
  installCert(file: string, pem: string): Promise<void> {
    return this.inTurn(async () => {
      if (/[\s;]/.test(file)) throw new FlowError('ACME_BAD_PATH', `refusing a certificate path with spaces or ";": ${JSON.stringify(file)}`);
      const payload = pem.split('\n').map((l) => l.trim()).filter((l) => l !== '').join('\n');
      const created = await retrying(() => cliCommand(this.o.adminSocket, `new ssl cert ${file}`));
      if (!/New empty certificate store|already exists/i.test(created)) throw new FlowError('ACME_RUNTIME', `HAProxy refused new ssl cert: ${created.trim().slice(0, 200)}`);
      const set = await retrying(() => cliCommand(this.o.adminSocket, `set ssl cert ${file} <<\n${payload}\n`));
      if (!/Transaction (created|updated)/i.test(set)) throw new FlowError('ACME_RUNTIME', `HAProxy refused set ssl cert: ${firstLine(set)}`);
      const commit = await retrying(() => cliCommand(this.o.adminSocket, `commit ssl cert ${file}`));
      if (!/Success/i.test(commit)) throw new FlowError('ACME_RUNTIME', `HAProxy refused commit ssl cert: ${firstLine(commit)}`);
      const listed = await retrying(() => cliCommand(this.o.adminSocket, `show ssl crt-list ${this.o.crtList}`));
      if (!listed.split('\n').some((l) => l.trim().split(/\s+/)[0] === file)) {
        const added = await retrying(() => cliCommand(this.o.adminSocket, `add ssl crt-list ${this.o.crtList} ${file}`));
        if (!/Success/i.test(added)) throw new FlowError('ACME_RUNTIME', `HAProxy refused add ssl crt-list: ${firstLine(added)}`);
      }
      this.o.log.debug({ file }, 'certificate served through the runtime API');
    });
  }
}

function firstLine(text: string): string {
  return (text.trim().split('\n')[0] ?? '').slice(0, 200);
}

/** The admin socket is briefly missing while a reload swaps workers: try again a few times. */
async function retrying<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (attempt >= 20 || !(e instanceof FlowError) || e.code !== 'CLI_UNREACHABLE') throw e;
      await sleep(50);
    }
  }
}
