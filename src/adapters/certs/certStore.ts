import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { FlowError } from '../../domain/errors.js';
import { writeFileAtomic } from '../fsAtomic.js';

export interface CertInfo {
  name: string;
  file: string;
  /** Where it came from: the certificates directory or a Docker secret. */
  source: 'dir' | 'secret';
  subject: string;
  /** Who signed it (the `Issuer` of /certs). */
  issuer: string;
  names: string[];
  notAfter: string;
  fingerprint256: string;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/**
 * Certificates for TLS binds: PEM files (certificate, chain and key in one
 * file) from CERTS_DIR and from Docker secrets `cert-*` / `cert_*`. Every
 * certificate is checked before it is stored, so one without its key or
 * plain garbage never reaches HAProxy.
 */
export class CertStore {
  private cached: CertInfo[] | undefined;

  constructor(
    private readonly dir: string,
    private readonly secretsDir: string,
    private readonly preferred: readonly string[],
    /** More crt-list lines after this store's (ACME's issued certificates, added at run time too). */
    private readonly extraCrtList: () => readonly string[] = () => [],
  ) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  /** Checks a PEM bundle; returns a sentence naming the problem, or undefined when usable. */
  static problem(pem: string): string | undefined {
    if (!/-----BEGIN CERTIFICATE-----/.test(pem)) return 'it holds no certificate (expected PEM: certificate, chain and private key in one file)';
    if (!/-----BEGIN (RSA |EC |ENCRYPTED )?PRIVATE KEY-----/.test(pem)) return 'it holds a certificate but no private key';
    if (/-----BEGIN ENCRYPTED PRIVATE KEY-----/.test(pem)) return 'its private key is encrypted; HAProxy needs an unencrypted key';
    let cert: crypto.X509Certificate;
    try {
      cert = new crypto.X509Certificate(pem);
    } catch (e) {
      return `its certificate cannot be read (${(e as Error).message})`;
    }
    let key: crypto.KeyObject;
    try {
      const keyPem = /-----BEGIN (RSA |EC )?PRIVATE KEY-----[\s\S]+?-----END (RSA |EC )?PRIVATE KEY-----/.exec(pem)?.[0] ?? '';
      key = crypto.createPrivateKey(keyPem);
    } catch (e) {
      return `its private key cannot be read (${(e as Error).message})`;
    }
    if (!cert.checkPrivateKey(key)) return 'its private key does not belong to its certificate';
    return undefined;
  }

  /** Checks a certificate as put() stores it; returns the normalised PEM, throws a 400 FlowError when it is unusable. */
  static validate(name: string, pem: string): string {
    if (!NAME.test(name)) throw new FlowError('BAD_CERT_NAME', `certName "${name.slice(0, 80)}" must hold only letters, digits, ".", "_" and "-".`);
    const normalised = pem.replace(/\\n/g, '\n').replace(/\r\n/g, '\n').trim() + '\n';
    const problem = CertStore.problem(normalised);
    if (problem) throw new FlowError('BAD_CERT', `Certificate "${name}" was refused: ${problem}.`);
    return normalised;
  }

  /** Stores a certificate under a name; throws a 400 FlowError when it is unusable. */
  put(name: string, pem: string): CertInfo {
    const normalised = CertStore.validate(name, pem);
    const file = path.join(this.dir, name);
    writeFileAtomic(file, normalised, 0o600);
    this.cached = undefined;
    return info(name, file, 'dir', normalised);
  }

  remove(name: string): boolean {
    if (!NAME.test(name)) return false;
    const file = path.join(this.dir, name);
    if (!fs.existsSync(file)) return false;
    fs.rmSync(file);
    this.cached = undefined;
    return true;
  }

  /** Every usable certificate, preferred ones first (the first is the default for clients without SNI). */
  list(): CertInfo[] {
    this.cached ??= this.scan();
    return this.cached;
  }

  /** Reads the directories again (certificates written by another process). */
  rescan(): CertInfo[] {
    this.cached = undefined;
    return this.list();
  }

  /** Changes whenever the set or the content of the certificates changes. */
  key(): string {
    return crypto.createHash('sha256').update(this.list().map((c) => `${c.file}:${c.fingerprint256}`).join('\n')).digest('hex');
  }

  private scan(): CertInfo[] {
    const found: CertInfo[] = [];
    const scan = (dir: string, source: 'dir' | 'secret', accept: (f: string) => boolean) => {
      let files: string[] = [];
      try {
        files = fs.readdirSync(dir).filter(accept).sort();
      } catch {
        return;
      }
      for (const f of files) {
        const file = path.join(dir, f);
        try {
          if (!fs.statSync(file).isFile()) continue;
          const pem = fs.readFileSync(file, 'utf8');
          if (CertStore.problem(pem) === undefined) found.push(info(f, file, source, pem));
        } catch {
          // unreadable files are not certificates
        }
      }
    };
    scan(this.dir, 'dir', (f) => NAME.test(f) && !f.startsWith('.'));
    scan(this.secretsDir, 'secret', (f) => /^cert[-_]/.test(f));
    return orderCerts(found, this.preferred);
  }

  /** The crt-list HAProxy reads: one certificate file per line, in order. */
  crtList(): string {
    return [...this.list().map((c) => c.file), ...this.extraCrtList()].map((f) => `${f}\n`).join('');
  }

  writeCrtList(file: string): void {
    writeFileAtomic(file, this.crtList(), 0o600);
  }
}

/** Preferred certificates (glob patterns, in the order given) first, then the rest by name. */
export function orderCerts(certs: CertInfo[], preferred: readonly string[]): CertInfo[] {
  const rank = (c: CertInfo) => {
    const i = preferred.findIndex((p) => globMatch(p, c.name));
    return i < 0 ? preferred.length : i;
  };
  return [...certs].sort((a, b) => rank(a) - rank(b) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function globMatch(pattern: string, name: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
  return re.test(name);
}

function info(name: string, file: string, source: 'dir' | 'secret', pem: string): CertInfo {
  const cert = new crypto.X509Certificate(pem);
  const names = (cert.subjectAltName ?? '').split(',').map((s) => s.trim().replace(/^DNS:/, '')).filter((s) => s !== '');
  return { name, file, source, subject: cert.subject.replace(/\n/g, ', '), issuer: cert.issuer.replace(/\n/g, ', '), names, notAfter: new Date(cert.validTo).toISOString(), fingerprint256: cert.fingerprint256 };
}
