import net from 'node:net';

/**
 * A TCP relay on 127.0.0.1 in front of a Consul agent, so that tests can
 * make a real Consul unreachable (cut) or hung (hang) for the code under
 * test without touching the agent itself.
 */
export class ConsulRelay {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  private hanging = false;
  private chosenPort = 0;

  private constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  static async start(target: { host: string; port: number }): Promise<ConsulRelay> {
    const relay = new ConsulRelay(target.host, target.port);
    await relay.restore();
    return relay;
  }

  /** `127.0.0.1:<port>`: the address to give the code under test. */
  get address(): string {
    return `127.0.0.1:${this.chosenPort}`;
  }

  /** Closes the port and every connection: Consul looks unreachable. */
  async cut(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  /** Listens again on the same port and forwards again. */
  async restore(): Promise<void> {
    this.hanging = false;
    if (this.server) return;
    const server = net.createServer((client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.chosenPort, '127.0.0.1', () => resolve());
    });
    this.chosenPort = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  /** Drops open connections and accepts new ones without ever answering: a hung Consul. */
  hang(): void {
    this.hanging = true;
    for (const s of this.sockets) s.destroy();
  }

  private accept(client: net.Socket): void {
    this.track(client);
    if (this.hanging) {
      client.resume();
      return;
    }
    const upstream = net.connect({ host: this.targetHost, port: this.targetPort });
    this.track(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
  }

  private track(s: net.Socket): void {
    this.sockets.add(s);
    s.once('close', () => this.sockets.delete(s));
  }
}
