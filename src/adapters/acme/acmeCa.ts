import { AsyncLocalStorage } from 'node:async_hooks';
import crypto from 'node:crypto';
import https from 'node:https';
import tls from 'node:tls';
import { AuthorityKeyIdentifierExtension, X509Certificate as PeculiarCertificate } from '@peculiar/x509';
import acme from 'acme-client';
import type { IssuedCert } from '../../core/acme/acmePolicy.js';

/** An ACME account: its key is a secret, kept in the store and never shown. */
export interface AcmeAccount {
  email: string;
  keyPem: string;
  url: string;
}

/** Why an order failed, in the terms the scheduler needs. */
export class AcmeOrderError extends Error {
  constructor(
    message: string,
    /** The CA said to slow down: do not try before this many ms. */
    readonly retryAfterMs?: number,
    readonly rateLimited = false,
  ) {
    super(message);
    this.name = 'AcmeOrderError';
  }
}

export interface AcmeCaOptions {
  directory: string;
  /** Extra CAs trusted for the connection to the ACME server (ACME_CA_FILE). */
  caPem?: string;
  /** Time limit of one whole order. */
  orderTimeoutMs?: number;
}

/** Publishes an HTTP-01 answer where the CA will look (every replica) and resolves once it is there. */
export type Publish = (token: string, keyAuthorization: string) => Promise<void>;
export type Withdraw = (token: string) => Promise<void>;

interface RequestContext {
  rateLimited?: { retryAfterMs?: number; detail: string };
}

const context = new AsyncLocalStorage<RequestContext>();
let configured: string | undefined;

/**
 * acme-client's HTTP layer is one axios instance for the process: trust the
 * extra CAs there, keep connections to the CA alive, let the scheduler (not
 * the client) wait out rate limits, and note a rate limit where the order
 * that met it can see it.
 */
function configureHttp(o: AcmeCaOptions): void {
  const key = `${o.directory}\u0000${o.caPem ?? ''}`;
  if (configured === key) return;
  configured = key;
  // One secure context for every connection: building one from the system roots and the extra CAs costs tens of ms.
  const secureContext = o.caPem !== undefined ? tls.createSecureContext({ ca: [...tls.rootCertificates, o.caPem] }) : undefined;
  acme.axios.defaults.httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 16, ...(secureContext && { secureContext }) });
  acme.axios.defaults.timeout = 30_000;
  (acme.axios.defaults as unknown as { acmeSettings: { retryMaxAttempts: number } }).acmeSettings.retryMaxAttempts = 0;
  acme.axios.interceptors.response.use((response) => {
    const problem = response.data as { type?: string; detail?: string } | undefined;
    if (response.status === 429 || problem?.type === 'urn:ietf:params:acme:error:rateLimited') {
      const ctx = context.getStore();
      if (ctx) ctx.rateLimited = { ...(retryAfter(response.headers['retry-after']) !== undefined && { retryAfterMs: retryAfter(response.headers['retry-after']) }), detail: String(problem?.detail ?? 'rate limited') };
    }
    return response;
  });
}

function retryAfter(header: unknown): number | undefined {
  if (typeof header !== 'string' || header === '') return undefined;
  if (/^\d+$/.test(header)) return Number(header) * 1000;
  const at = Date.parse(header);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined;
}

/**
 * The ACME protocol (RFC 8555) through acme-client: accounts, and one order
 * per name (HTTP-01), polled briskly so that a certificate is served within
 * a fraction of a second of a fast CA answering.
 */
export class AcmeCa {
  private readonly clients = new Map<string, acme.Client>();

  constructor(private readonly o: AcmeCaOptions) {
    configureHttp(o);
  }

  /** Registers (or finds) the account of an e-mail address; an existing key is reused. */
  async account(email: string, existing?: { keyPem: string; url?: string }): Promise<AcmeAccount> {
    const keyPem = existing?.keyPem ?? (await acme.crypto.createPrivateEcdsaKey('P-256')).toString();
    const client = this.client(keyPem, existing?.url);
    return this.guard(async () => {
      await client.createAccount({ termsOfServiceAgreed: true, contact: [`mailto:${email}`] });
      return { email, keyPem, url: client.getAccountUrl() };
    });
  }

  /** Orders a certificate for one name with HTTP-01; the key is made here and returned with the chain. */
  async order(domain: string, account: AcmeAccount, publish: Publish, withdraw: Withdraw, phases: Record<string, number> = {}): Promise<IssuedCert> {
    const client = this.client(account.keyPem, account.url);
    const deadline = this.o.orderTimeoutMs ?? 120_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new AcmeOrderError(`the order did not complete within ${Math.round(deadline / 1000)} s`)), deadline);
    });
    const published: string[] = [];
    try {
      return await Promise.race([timeout, this.guard(async () => {
        const [keyPromise] = [acme.crypto.createPrivateEcdsaKey('P-256')];
        let last = performance.now();
        const mark = (name: string) => {
          const now = performance.now();
          phases[name] = Math.round(now - last);
          last = now;
        };
        const order = await client.createOrder({ identifiers: [{ type: 'dns', value: domain }] });
        mark('order');
        const authorizations = await client.getAuthorizations(order);
        mark('authorizations');
        for (const authz of authorizations) {
          if (authz.status === 'valid') continue;
          const challenge = authz.challenges.find((c) => c.type === 'http-01');
          if (!challenge) throw new AcmeOrderError(`the CA offers no http-01 challenge for ${domain}`);
          const keyAuthorization = await client.getChallengeKeyAuthorization(challenge);
          await publish(challenge.token, keyAuthorization);
          published.push(challenge.token);
          mark('publish');
          await client.completeChallenge(challenge);
          await client.waitForValidStatus(challenge);
          mark('validation');
        }
        const [key, csr] = await acme.crypto.createCsr({ commonName: domain, altNames: [domain] }, await keyPromise);
        mark('csr');
        const finalized = await client.finalizeOrder(order, csr);
        mark('finalize');
        const chain = await client.getCertificate(finalized);
        mark('download');
        return issued(domain, chain.toString(), key.toString());
      })]);
    } finally {
      clearTimeout(timer);
      for (const token of published) await withdraw(token).catch(() => undefined);
    }
  }

  private renewalInfoUrl: Promise<string | undefined> | undefined;

  /**
   * The CA's suggested renewal window for a certificate (ARI, RFC 9773), when
   * its directory offers `renewalInfo`; with how long to wait before asking
   * again (its Retry-After). Undefined when the CA has no ARI.
   */
  async renewalInfo(pem: string): Promise<{ start: number; end: number; retryAfterMs?: number } | undefined> {
    this.renewalInfoUrl ??= acme.axios.get(this.o.directory, { timeout: 10_000 }).then(
      (r) => (r.status === 200 && typeof (r.data as { renewalInfo?: unknown })?.renewalInfo === 'string' ? (r.data as { renewalInfo: string }).renewalInfo : undefined),
      () => {
        this.renewalInfoUrl = undefined;
        return undefined;
      },
    );
    const base = await this.renewalInfoUrl;
    if (base === undefined) return undefined;
    const id = ariCertId(pem);
    if (id === undefined) return undefined;
    const res = await acme.axios.get(`${base.replace(/\/+$/, '')}/${id}`, { timeout: 10_000 });
    const window = (res.data as { suggestedWindow?: { start?: unknown; end?: unknown } } | undefined)?.suggestedWindow;
    const start = Date.parse(String(window?.start ?? ''));
    const end = Date.parse(String(window?.end ?? ''));
    if (res.status !== 200 || !Number.isFinite(start) || !Number.isFinite(end) || end < start) return undefined;
    const after = retryAfter(res.headers['retry-after']);
    return { start, end, ...(after !== undefined && { retryAfterMs: after }) };
  }

  private client(keyPem: string, url?: string): acme.Client {
    const id = crypto.createHash('sha256').update(keyPem).digest('hex');
    let client = this.clients.get(id);
    if (!client) {
      client = new acme.Client({ directoryUrl: this.o.directory, accountKey: keyPem, ...(url !== undefined && { accountUrl: url }), backoffAttempts: 60, backoffMin: 25, backoffMax: 1000 });
      this.clients.set(id, client);
    }
    return client;
  }

  /** Runs a protocol exchange; a rate limit met on the way becomes an AcmeOrderError with its Retry-After. */
  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    const ctx: RequestContext = {};
    try {
      return await context.run(ctx, fn);
    } catch (e) {
      if (e instanceof AcmeOrderError) throw e;
      const message = e instanceof Error ? e.message : String(e);
      if (ctx.rateLimited) throw new AcmeOrderError(`rate limited by the CA: ${ctx.rateLimited.detail}`, ctx.rateLimited.retryAfterMs, true);
      throw new AcmeOrderError(cleanMessage(message));
    }
  }
}

/** Messages of the CA or the network, made one line and short, with challenge tokens cut out (the CA quotes the URL it fetched). */
function cleanMessage(message: string): string {
  return message
    .replace(/(\/\.well-known\/acme-challenge\/)[A-Za-z0-9_-]+/g, '$1…')
    .replace(/[\r\n]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 300) || 'unknown error';
}

/** The record of a certificate the CA sent: names, issuer and validity read from it. */
export function issued(domain: string, chainPem: string, keyPem: string): IssuedCert {
  const leaf = new crypto.X509Certificate(chainPem);
  const names = (leaf.subjectAltName ?? '').split(',').map((s) => s.trim().replace(/^DNS:/, '')).filter((s) => s !== '');
  const pem = `${chainPem.trim()}\n${keyPem.trim()}\n`;
  return {
    domain,
    pem,
    names,
    issuer: leaf.issuer.replace(/\n/g, ', '),
    notBefore: Date.parse(leaf.validFrom),
    notAfter: Date.parse(leaf.validTo),
    fingerprint256: leaf.fingerprint256,
    issuedAt: Date.now(),
  };
}

/** ARI's certificate identifier (RFC 9773 §4.1): base64url of the Authority Key Identifier's keyIdentifier, ".", base64url of the serial's DER bytes. */
export function ariCertIdFrom(keyIdentifierHex: string, serialHex: string): string {
  return `${Buffer.from(keyIdentifierHex, 'hex').toString('base64url')}.${Buffer.from(serialHex, 'hex').toString('base64url')}`;
}

/** The ARI identifier of a certificate (the first of a PEM chain), or undefined without an Authority Key Identifier. */
export function ariCertId(pem: string): string | undefined {
  try {
    const leaf = new PeculiarCertificate(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem)?.[0] ?? '');
    const aki = leaf.getExtension(AuthorityKeyIdentifierExtension);
    if (!aki?.keyId) return undefined;
    return ariCertIdFrom(aki.keyId, leaf.serialNumber);
  } catch {
    return undefined;
  }
}
