/** How long a server state read ahead of a reload may be used: under the 1 s a check takes while a server changes state. */
const FRESH_MS = 1_000;

/**
 * Reads of HAProxy's server state (`show servers state`) for the next
 * reload. A reload is announced as soon as it is certain, before its model
 * is made and rendered (readAhead), so the read (50-120 ms at 10,000 servers)
 * runs beside that work instead of after it. The read ahead is used once, and only if no runtime
 * command was sent since, it is under a second old and it succeeded;
 * otherwise the state is read again.
 */
export class ServerStateReads<Derived = string> {
  private ahead: { state: Promise<string>; commands: number; at: number; derived?: { key: object; value: Promise<Derived> } } | undefined;
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

  /**
   * What the reload for `key` will make of the state read ahead (the new config's filter), computed
   * as soon as it arrives: while `haproxy -c` runs, not after. Used with that read only (current).
   */
  deriveAhead(key: object, derive: (state: string) => Derived): void {
    if (this.ahead === undefined) return;
    const value = this.ahead.state.then(derive);
    value.catch(() => undefined);
    this.ahead.derived = { key, value };
  }

  /** The state for a reload starting now: the read ahead when still valid, else a new read. */
  current(): Promise<string> {
    return this.currentFor(undefined).state;
  }

  /** current(), and what deriveAhead made of that read for the reload of `key`, when it is that read. */
  currentFor(key: object | undefined): { state: Promise<string>; derived?: Promise<Derived> } {
    const ahead = this.ahead;
    this.ahead = undefined;
    if (ahead !== undefined && ahead.commands === this.commands && this.now() - ahead.at < FRESH_MS) {
      const derived = key !== undefined && ahead.derived?.key === key ? ahead.derived.value : undefined;
      return { state: ahead.state.catch(() => this.read()), ...(derived && { derived }) };
    }
    return { state: this.read() };
  }
}
