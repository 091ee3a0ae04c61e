/** What a test sees of a key through Consul's HTTP API. */
export interface RawKey {
  value: string;
  modifyIndex: number;
  createIndex: number;
}

/** Plain HTTP calls to a Consul KV API, independent of the code under test, to arrange and inspect its contents. */
export class ConsulHttp {
  constructor(
    readonly address: string,
    private readonly token?: string,
  ) {}

  /** A raw request to `/v1/kv/<key>` with a query string; the key is sent as Consul's own client sends it. */
  async request(method: string, key: string, query = '', body?: string, timeoutMs = 15_000): Promise<Response> {
    const base = /^https?:\/\//.test(this.address) ? this.address : `http://${this.address}`;
    const url = `${base}/v1/kv/${key.split('/').map(encodeURIComponent).join('/')}${query ? `?${query}` : ''}`;
    return fetch(url, {
      method,
      ...(body !== undefined && { body }),
      headers: this.token ? { 'X-Consul-Token': this.token } : {},
      signal: AbortSignal.timeout(timeoutMs),
    });
  }

  /** Every key under a prefix with its value and indexes. */
  async dump(prefix: string): Promise<Record<string, RawKey>> {
    const res = await this.request('GET', prefix, 'recurse=true');
    if (res.status === 404) return {};
    if (!res.ok) throw new Error(`GET ${prefix}?recurse: HTTP ${res.status}`);
    const items = (await res.json()) as Array<{ Key: string; Value: string | null; ModifyIndex: number; CreateIndex: number }>;
    const out: Record<string, RawKey> = {};
    for (const i of items) out[i.Key] = { value: i.Value === null ? '' : Buffer.from(i.Value, 'base64').toString('utf8'), modifyIndex: i.ModifyIndex, createIndex: i.CreateIndex };
    return out;
  }

  /** The values under a prefix, for comparisons that ignore indexes. */
  async values(prefix: string): Promise<Record<string, string>> {
    const dump = await this.dump(prefix);
    return Object.fromEntries(Object.entries(dump).map(([k, v]) => [k, v.value]));
  }

  async put(key: string, value: string): Promise<void> {
    const res = await this.request('PUT', key, '', value);
    if (!res.ok || (await res.text()).trim() !== 'true') throw new Error(`PUT ${key}: HTTP ${res.status}`);
  }

  async delete(key: string, recurse = false): Promise<void> {
    const res = await this.request('DELETE', key, recurse ? 'recurse=true' : '');
    if (!res.ok) throw new Error(`DELETE ${key}: HTTP ${res.status}`);
  }
}
