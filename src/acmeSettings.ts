import fs from 'node:fs';
import path from 'node:path';
import { acmeEmailProblem } from './domain/acmeParams.js';
import { hasControl } from './domain/haproxyText.js';

/** Let's Encrypt's directories: production is the default, staging is for trials (untrusted certificates, high limits). */
export const LETS_ENCRYPT_PRODUCTION = 'https://acme-v02.api.letsencrypt.org/directory';
export const LETS_ENCRYPT_STAGING = 'https://acme-staging-v02.api.letsencrypt.org/directory';

/** Automatic HTTPS (issue 18): on when ACME_EMAIL is set. */
export interface AcmeSettings {
  /** ACME_EMAIL: the default account's contact. */
  email: string;
  /** ACME_DIRECTORY: the CA's directory URL. */
  directory: string;
  /** ACME_CA_FILE: PEM with extra CAs trusted for the connection to the ACME server (its content). */
  caPem?: string;
  caFile?: string;
  /** ACME_RETRY_BASE (seconds): first delay after a failed order, doubled per failure, jittered. */
  retryBaseMs: number;
  /** ACME_RETRY_MAX (seconds): no delay between attempts is longer. */
  retryMaxMs: number;
}

/** Variables read from /run/secrets/dfp_<lower-case name> too (the secret wins), like the other settings marked S. */
export const ACME_SECRET_VARS = ['ACME_EMAIL', 'ACME_DIRECTORY', 'ACME_CA_FILE'] as const;

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Reads the ACME variables; every bad one is reported. `others` are facts
 * of the rest of the settings that ACME depends on.
 */
export function loadAcmeSettings(
  env: Env,
  readSecret: (name: string) => string | undefined,
  others: { crtListPath?: string; peers: number; apiToken?: string; cwd: string },
): { ok: true; acme?: AcmeSettings } | { ok: false; errors: string[] } {
  const raw: Record<string, string | undefined> = {};
  for (const name of ['ACME_EMAIL', 'ACME_DIRECTORY', 'ACME_CA_FILE', 'ACME_RETRY_BASE', 'ACME_RETRY_MAX']) raw[name] = env[name];
  for (const name of ACME_SECRET_VARS) {
    const secret = readSecret(`dfp_${name.toLowerCase()}`);
    if (secret !== undefined) raw[name] = secret.trim();
  }
  const errors: string[] = [];
  const given = (name: string) => {
    const v = raw[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  const email = given('ACME_EMAIL');
  const directory = given('ACME_DIRECTORY') ?? LETS_ENCRYPT_PRODUCTION;
  const caFile = given('ACME_CA_FILE');
  const seconds = (name: string, fallback: number, min: number, max: number) => {
    const v = given(name);
    if (v === undefined) return fallback * 1000;
    if (!/^\d+(\.\d+)?$/.test(v) || Number(v) < min || Number(v) > max) {
      errors.push(`${name} "${v.slice(0, 40)}" must be a number of seconds from ${min} to ${max}.`);
      return fallback * 1000;
    }
    return Number(v) * 1000;
  };
  const retryBaseMs = seconds('ACME_RETRY_BASE', 300, 0.05, 86_400);
  const retryMaxMs = seconds('ACME_RETRY_MAX', 86_400, 0.05, 30 * 86_400);
  if (email === undefined) {
    for (const name of ['ACME_DIRECTORY', 'ACME_CA_FILE']) if (given(name) !== undefined) errors.push(`${name} is set but ACME_EMAIL is not: ACME is on only with ACME_EMAIL.`);
    return errors.length > 0 ? { ok: false, errors } : { ok: true };
  }
  const emailProblem = acmeEmailProblem(email);
  if (emailProblem) errors.push(`ACME_EMAIL "${email.slice(0, 80)}" ${emailProblem}.`);
  let url: URL | undefined;
  try {
    url = new URL(directory);
  } catch {
    url = undefined;
  }
  if (!url || url.protocol !== 'https:' || hasControl(directory)) errors.push(`ACME_DIRECTORY "${directory.slice(0, 120)}" must be an https:// URL of an ACME directory (Let's Encrypt staging: ${LETS_ENCRYPT_STAGING}).`);
  let caPem: string | undefined;
  if (caFile !== undefined) {
    const file = path.resolve(others.cwd, caFile);
    try {
      caPem = fs.readFileSync(file, 'utf8');
      if (!caPem.includes('-----BEGIN CERTIFICATE-----')) errors.push(`ACME_CA_FILE "${caFile}" holds no PEM certificate.`);
    } catch (e) {
      errors.push(`ACME_CA_FILE "${caFile}" cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'}).`);
    }
  }
  if (others.crtListPath !== undefined) errors.push('ACME_EMAIL cannot be used with CRT_LIST_PATH: flow-proxy must own the crt-list to add issued certificates to it.');
  if (others.peers > 0 && others.apiToken === undefined) errors.push('ACME_EMAIL with PEERS needs API_TOKEN: issued certificates (with their keys) and challenge tokens travel between replicas only with the token.');
  if (retryMaxMs < retryBaseMs) errors.push('ACME_RETRY_MAX must not be below ACME_RETRY_BASE.');
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, acme: { email, directory, ...(caPem !== undefined && { caPem, caFile: caFile as string }), retryBaseMs, retryMaxMs } };
}
