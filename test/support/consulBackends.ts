import crypto from 'node:crypto';
import { ConsulEmulator } from './consulEmulator.js';
import { ConsulHttp } from './consulHttp.js';
import { ConsulRelay } from './consulRelay.js';

/** One Consul the conformance suites run against: the emulator, or a real agent. */
export interface ConsulBackend {
  label: string;
  /** The address to give the code under test; outages are played on it. */
  address: string;
  token?: string;
  /** A key prefix of this test alone. */
  prefix: string;
  /** Arranges and inspects Consul directly (reachable whatever down() did, once up() ran for the emulator). */
  http: ConsulHttp;
  /** Set when the backend is the emulator, for checks only it can make. */
  emulator?: ConsulEmulator;
  /** Consul becomes unreachable for the code under test. */
  down(): Promise<void>;
  /** Consul is reachable again, with the same data, at the same address. */
  up(): Promise<void>;
  /** Consul accepts connections and never answers. */
  hang(): Promise<void>;
  /** Stops what the backend started and removes its keys. */
  close(): Promise<void>;
}

export interface ConsulBackendKind {
  label: string;
  start(): Promise<ConsulBackend>;
}

function uniquePrefix(): string {
  return `flow-proxy-test/${crypto.randomUUID()}`;
}

const emulatorKind: ConsulBackendKind = {
  label: 'emulator',
  async start() {
    const emulator = await ConsulEmulator.start();
    return {
      label: 'emulator',
      address: emulator.address,
      prefix: uniquePrefix(),
      http: new ConsulHttp(emulator.address),
      emulator,
      down: () => emulator.stop(),
      up: async () => {
        emulator.stall(false);
        await emulator.start();
      },
      hang: async () => emulator.stall(true),
      close: () => emulator.stop(),
    };
  },
};

/** A real agent at CONSUL_HTTP_ADDR, reached through a relay that can cut it off. */
function realKind(address: string, token: string | undefined): ConsulBackendKind {
  return {
    label: 'real Consul',
    async start() {
      const target = new URL(/^https?:\/\//.test(address) ? address : `http://${address}`);
      const relay = await ConsulRelay.start({ host: target.hostname, port: Number(target.port || 8500) });
      const http = new ConsulHttp(address, token);
      const prefix = uniquePrefix();
      return {
        label: 'real Consul',
        address: `${target.protocol}//${relay.address}`,
        ...(token !== undefined && { token }),
        prefix,
        http,
        down: () => relay.cut(),
        up: () => relay.restore(),
        hang: async () => relay.hang(),
        close: async () => {
          await relay.cut();
          await http.delete(prefix, true);
        },
      };
    },
  };
}

/**
 * The Consuls to run a conformance suite against: always the emulator, and
 * a real agent when CONSUL_HTTP_ADDR is set (with CONSUL_HTTP_TOKEN if any).
 */
export function consulBackendKinds(env: NodeJS.ProcessEnv = process.env): ConsulBackendKind[] {
  const kinds = [emulatorKind];
  const address = env.CONSUL_HTTP_ADDR?.trim();
  if (address) kinds.push(realKind(address, env.CONSUL_HTTP_TOKEN?.trim() || undefined));
  return kinds;
}
