import type { Log } from '../../core/log.js';
import type { Store, StoredState } from '../../core/ports.js';

/**
 * A shared store (Consul) with a local copy of the last state it held: a
 * replica restarted while Consul is unreachable starts from that copy and
 * keeps serving, accepts no write until Consul answers, and converges when
 * the watch reports Consul's state again.
 */
export class CachedStore implements Store {
  constructor(private readonly primary: Store, private readonly cache: Store, private readonly log: Log) {}

  async load(): Promise<StoredState | undefined> {
    try {
      const state = await this.primary.load();
      if (state) await this.cache.save(state).catch((e: unknown) => this.log.warn({ err: e }, 'could not update the local copy of the shared state'));
      return state;
    } catch (e) {
      const copy = await this.cache.load();
      if (!copy) throw e;
      this.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'the shared store is unreachable: starting from the local copy of its last state');
      return copy;
    }
  }

  async save(state: StoredState): Promise<void> {
    await this.primary.save(state);
    await this.cache.save(state).catch((e: unknown) => this.log.warn({ err: e }, 'could not update the local copy of the shared state'));
  }

  watch(onChange: (state: StoredState) => void, signal: AbortSignal): void {
    this.primary.watch?.((state) => {
      void this.cache.save(state).catch(() => undefined);
      onChange(state);
    }, signal);
  }

  current(): StoredState {
    return this.primary.current?.() ?? { version: 0, services: [] };
  }

  applied(state: StoredState): void {
    this.primary.applied?.(state);
  }

  healthy(): boolean {
    return this.primary.healthy?.() ?? true;
  }
}
