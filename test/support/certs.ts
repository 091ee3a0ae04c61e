import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from './tmp.js';

export interface Cert {
  cert: string;
  key: string;
  /** Certificate then key: what HAProxy and PUT /cert take. */
  pem: string;
  certFile: string;
  keyFile: string;
}

function tmp(): string {
  return tempDir('fp-cert-');
}

/** A self-signed CA for client certificate tests. */
export function makeCA(name = 'flow-proxy test CA'): Cert {
  const dir = tmp();
  const keyFile = path.join(dir, 'ca.key');
  const certFile = path.join(dir, 'ca.crt');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${name}`, '-keyout', keyFile, '-out', certFile], { stdio: 'ignore' });
  const cert = fs.readFileSync(certFile, 'utf8');
  const key = fs.readFileSync(keyFile, 'utf8');
  return { cert, key, pem: cert + key, certFile, keyFile };
}

/** A certificate for the given DNS names, self-signed or signed by `ca`. */
export function makeCert(names: string[], ca?: Cert): Cert {
  const dir = tmp();
  const keyFile = path.join(dir, 'tls.key');
  const certFile = path.join(dir, 'tls.crt');
  const cn = names[0] ?? 'localhost';
  const san = `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}`;
  if (!ca) {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${cn}`, '-addext', san, '-keyout', keyFile, '-out', certFile], { stdio: 'ignore' });
  } else {
    const csr = path.join(dir, 'tls.csr');
    const ext = path.join(dir, 'ext.cnf');
    fs.writeFileSync(ext, `${san}\n`);
    execFileSync('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}`, '-keyout', keyFile, '-out', csr], { stdio: 'ignore' });
    execFileSync('openssl', ['x509', '-req', '-in', csr, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-CAcreateserial', '-days', '2', '-extfile', ext, '-out', certFile], { stdio: 'ignore' });
  }
  const cert = fs.readFileSync(certFile, 'utf8');
  const key = fs.readFileSync(keyFile, 'utf8');
  return { cert, key, pem: cert + key, certFile, keyFile };
}
