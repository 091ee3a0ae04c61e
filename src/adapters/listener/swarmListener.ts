import type { ListenerApi } from '../../core/ports.js';
import { FlowError } from '../../domain/errors.js';

const DEFAULT_PORT = 8080;
const TIMEOUT_MS = 10_000;

/**
 * LISTENER_ADDRESS entries to base URLs: `host` (docker-flow-proxy's form,
 * port 8080), `host:port`, or an `http(s)://host[:port]` URL. Returns an
 * error sentence for an entry that is none of these.
 */
export function parseListenerAddresses(text: string): string[] | string {
  const urls: string[] = [];
  for (const entry of text.split(',').map((e) => e.trim()).filter((e) => e !== '')) {
    const url = listenerUrl(entry);
    if (url === undefined) return `"${entry}" is not a host, host:port or http(s)://host:port`;
    if (!urls.includes(url)) urls.push(url);
  }
  return urls;
}

function listenerUrl(entry: string): string | undefined {
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(entry) && !/^https?:\/\//i.test(entry)) return undefined;
  const withScheme = /^https?:\/\//i.test(entry) ? entry : `http://${entry}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    return undefined;
  }
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') return undefined;
  if (!/^[A-Za-z0-9._-]+$|^\[[0-9A-Fa-f:.]+\]$/.test(url.hostname)) return undefined;
  const port = url.port === '' ? (/^https?:\/\//i.test(entry) ? '' : String(DEFAULT_PORT)) : url.port;
  const path = url.pathname.replace(/\/+$/, '');
  return `${url.protocol}//${url.hostname}${port === '' ? '' : `:${port}`}${path}`;
}

/** The listener at one base URL, over HTTP (Node's fetch), every call bounded in time. */
export class HttpListener implements ListenerApi {
  constructor(readonly url: string, private readonly timeoutMs = TIMEOUT_MS) {}

  async getServices(signal?: AbortSignal): Promise<Array<Record<string, string>>> {
    const body = await this.call('get-services', signal);
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      throw new FlowError('LISTENER_BAD_ANSWER', `listener ${this.url} answered get-services with something that is not JSON`);
    }
    if (parsed === null) return []; // Go encodes an empty slice as null
    if (!Array.isArray(parsed)) throw new FlowError('LISTENER_BAD_ANSWER', `listener ${this.url} answered get-services with JSON that is not a list`);
    return parsed.filter((s): s is Record<string, unknown> => typeof s === 'object' && s !== null && !Array.isArray(s)).map(stringValues);
  }

  async notifyServices(signal?: AbortSignal): Promise<void> {
    await this.call('notify-services', signal);
  }

  private async call(endpoint: string, signal?: AbortSignal): Promise<string> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let res: Response;
    try {
      res = await fetch(`${this.url}/v1/docker-flow-swarm-listener/${endpoint}`, { signal: combined, redirect: 'error' });
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause?.code ?? (timeout.aborted ? `no answer within ${this.timeoutMs} ms` : e instanceof Error ? e.message : String(e));
      throw new FlowError('LISTENER_UNREACHABLE', `listener ${this.url} cannot be reached (${cause})`);
    }
    const text = await res.text();
    if (res.status !== 200) throw new FlowError('LISTENER_REFUSED', `listener ${this.url} answered ${endpoint} with HTTP ${res.status}`);
    return text;
  }
}

/** Parameter maps hold strings; numbers and booleans (mapstructure gave some) become their text. */
function stringValues(service: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(service)) {
    if (typeof value === 'string') out[key] = value;
    else if (typeof value === 'number' || typeof value === 'boolean') out[key] = String(value);
  }
  return out;
}
