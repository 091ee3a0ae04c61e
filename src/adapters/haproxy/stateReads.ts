/** How long a server state read ahead of a reload may be used: under the 1 s a check takes while a server changes state. */
const FRESH_MS = 1_000;

/**
 * Reads of HAProxy's server state (`show servers state`) for the next
 * reload. A reload is announced while the config is rendered and checked
 * (readAhead), so the read (50 ms at 10,000 servers) runs beside that work
 * instead of after it. The read ahead is used once, and only if no runtime
 * command was sent since, it is under a second old and it succeeded;
 * otherwise the state is read again.
 */
export class ServerStateReads {
  private ahead: { state: Promise<string>; commands: number; at: number } | undefined;
  private commands = 0;

  constructor(private readonly read: () => Promise<string>, private readonly now: () => number = () => performance.now()) {}

  /** A runtime command is being sent: a state read before it is stale. */
  commandSent(): void {
    this.commands++;
  }

  /** A reload is likely soon: read the state now. */
  readAhead(): void {
    const state = this.read();
    state.catch(() => undefined);
    this.ahead = { state, commands: this.commands, at: this.now() };
  }

  /** The state for a reload starting now: the read ahead when still valid, else a new read. */
  current(): Promise<string> {
    const ahead = this.ahead;
    this.ahead = undefined;
    if (ahead !== undefined && ahead.commands === this.commands && this.now() - ahead.at < FRESH_MS) return ahead.state.catch(() => this.read());
    return this.read();
  }
}
