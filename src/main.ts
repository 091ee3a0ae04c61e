import fs from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { PinoPretty } from 'pino-pretty';
import { FlowError } from './domain/errors.js';
import { startProxy } from './proxy.js';
import { loadSettings } from './settings.js';

/** Composition root: the only place that reads process.env. */
async function main(): Promise<void> {
  const env = process.env;
  const secretsDir = env.SECRETS_DIR ?? '/run/secrets';
  const readSecret = (name: string) => {
    try {
      return fs.readFileSync(path.join(secretsDir, name), 'utf8');
    } catch {
      return undefined;
    }
  };
  const loaded = loadSettings(env, readSecret);
  if (!loaded.ok) {
    for (const error of loaded.errors) process.stderr.write(`flow-proxy: ${error}\n`);
    process.stderr.write(`flow-proxy: ${loaded.errors.length} invalid setting${loaded.errors.length > 1 ? 's' : ''}; not starting.\n`);
    process.exit(2);
  }
  const settings = loaded.settings;
  // JSON lines for machines; readable lines for people at a terminal (or with LOG_FORMAT=pretty).
  const pretty = settings.logFormat === 'pretty' || (settings.logFormat === undefined && process.stdout.isTTY === true);
  const options = { level: settings.logLevel, base: { service: 'flow-proxy' }, timestamp: pino.stdTimeFunctions.isoTime };
  const log = pretty ? pino(options, PinoPretty({ colorize: process.stdout.isTTY === true, sync: true, singleLine: true, ignore: 'service,pid,hostname', translateTime: 'SYS:HH:MM:ss.l' })) : pino(options);
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  try {
    proxy = await startProxy({ settings, env, log });
  } catch (e) {
    const message = e instanceof FlowError ? e.message : e instanceof Error ? e.stack ?? e.message : String(e);
    log.fatal({ code: e instanceof FlowError ? e.code : undefined }, message);
    process.stderr.write(`flow-proxy: ${message}\n`);
    process.exit(1);
  }
  // A signal sent to the process group (Ctrl-C at a terminal, a supervisor stopping `npm start`) reaches
  // node twice, once from npm: the second must not cut the stop short and leave HAProxy running.
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) {
      log.info({ signal }, 'already stopping');
      return;
    }
    stopping = true;
    log.info({ signal }, 'stopping');
    proxy.stop().then(
      () => process.exit(0),
      (e: unknown) => {
        log.error({ err: e }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

void main();
