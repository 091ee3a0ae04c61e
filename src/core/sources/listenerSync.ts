import { describeIssues } from '../../domain/errors.js';
import { fromEntries } from '../../domain/params.js';
import type { ParseContext } from '../../domain/parse.js';
import { backoffDelay, sleepUnlessAborted } from '../backoff.js';
import type { Command } from '../desired/desired.js';
import type { CommandResult } from '../ports.js';
import type { Log } from '../log.js';
import type { ListenerApi } from '../ports.js';
import { toEntry } from '../../domain/entry.js';

/**
 * State from docker-flow-swarm-listener (LISTENER_ADDRESS), as
 * docker-flow-proxy took it: at start every listener is asked for all its
 * services (`get-services`), retried with backoff until it answers, and what
 * it lists is applied in one apply on top of the stored services (the
 * listener's version of a service wins; stored services it does not list
 * stay, as docker-flow-proxy never removed on a pull). Readiness waits for
 * the first pull of every listener, or for `waitMs`, whichever comes first.
 * With `repeat` (REPEAT_RELOAD) the pull runs again every `intervalMs`.
 */
export interface ListenerSyncDeps {
  listeners: readonly ListenerApi[];
  submitAll: (commands: Command[], changeId: string) => Promise<CommandResult[]>;
  parseContext: ParseContext;
  log: Log;
  /** RELOAD_INTERVAL: the longest delay between retries, and the period of repeated pulls. */
  intervalMs: number;
  /** REPEAT_RELOAD: keep pulling every intervalMs. */
  repeat: boolean;
  /** LISTENER_WAIT: how long readiness waits for the first pull. */
  waitMs: number;
  now?: () => number;
  random?: () => number;
}

export interface ListenerState {
  url: string;
  state: 'pending' | 'live' | 'unreachable';
  /** When the state last changed (ms since the epoch). */
  since: number;
  attempts: number;
  /** Services the last successful pull listed, and how many of them were refused. */
  services?: number;
  refused?: number;
  lastError?: string;
  lastPull?: number;
}

export class ListenerSync {
  private readonly states: ListenerState[];
  private readonly started: number;
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(private readonly deps: ListenerSyncDeps) {
    this.now = deps.now ?? Date.now;
    this.random = deps.random ?? Math.random;
    this.started = this.now();
    this.states = deps.listeners.map((l) => ({ url: l.url, state: 'pending', since: this.started, attempts: 0 }));
  }

  get enabled(): boolean {
    return this.deps.listeners.length > 0;
  }

  /** Every listener's first pull is live, or the wait for it has passed. */
  ready(): boolean {
    return this.firstPullsLive() || this.waitedOut();
  }

  firstPullsLive(): boolean {
    return this.states.every((s) => s.lastPull !== undefined);
  }

  waitedOut(): boolean {
    return !this.firstPullsLive() && this.now() - this.started >= this.deps.waitMs;
  }

  status(): { listeners: ListenerState[]; firstPullsLive: boolean; waitedOut: boolean } {
    return { listeners: this.states.map((s) => ({ ...s })), firstPullsLive: this.firstPullsLive(), waitedOut: this.waitedOut() };
  }

  /** Pulls from every listener until it answers (and again every interval with repeat), until the signal aborts. */
  start(signal: AbortSignal): void {
    this.deps.listeners.forEach((listener, i) => void this.loop(listener, this.states[i] as ListenerState, signal));
  }

  private async loop(listener: ListenerApi, state: ListenerState, signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      state.attempts++;
      try {
        await this.pull(listener, state, signal);
        failures = 0;
        if (!this.deps.repeat) return;
        await sleepUnlessAborted(this.deps.intervalMs, signal);
      } catch (e) {
        if (signal.aborted) return;
        const message = e instanceof Error ? e.message : String(e);
        if (state.state !== 'unreachable') this.deps.log.warn({ listener: listener.url, err: message }, 'cannot pull services from the listener; retrying');
        this.set(state, 'unreachable');
        state.lastError = message;
        const delay = backoffDelay(failures++, { baseMs: Math.min(250, this.deps.intervalMs), capMs: this.deps.intervalMs }, this.random());
        await sleepUnlessAborted(delay, signal);
      }
    }
  }

  /** One pull: every service the listener lists, applied in one apply. */
  private async pull(listener: ListenerApi, state: ListenerState, signal: AbortSignal): Promise<void> {
    const services = await listener.getServices(signal);
    const commands: Command[] = [];
    let refused = 0;
    for (const params of services) {
      const parsed = toEntry(fromEntries(Object.entries(params)), this.deps.parseContext, 'api');
      if (!parsed.ok) {
        refused++;
        this.deps.log.warn({ listener: listener.url, service: params.serviceName ?? parsed.serviceName, reason: describeIssues(parsed.issues) }, 'the listener lists a service that is refused');
        continue;
      }
      commands.push(parsed.entry.spec.replicas === 0 ? { kind: 'remove', name: parsed.entry.name } : { kind: 'upsert', entry: parsed.entry });
    }
    const results = await this.deps.submitAll(commands, 'listener-pull');
    const failed = results.filter((r) => !r.ok);
    refused += failed.length;
    for (const r of failed) this.deps.log.warn({ listener: listener.url, reason: r.message }, 'a service from the listener could not be applied');
    const first = state.lastPull === undefined;
    state.lastPull = this.now();
    state.services = services.length;
    state.refused = refused;
    delete state.lastError;
    this.set(state, 'live');
    if (first) this.deps.log.info({ listener: listener.url, services: services.length, refused }, 'services pulled from the listener are live');
  }

  /** reload?fromListener=true: asks every listener to send all its services again. */
  async notifyAll(signal?: AbortSignal): Promise<Array<{ url: string; ok: boolean; message: string }>> {
    return Promise.all(this.deps.listeners.map(async (l) => {
      try {
        await l.notifyServices(signal);
        return { url: l.url, ok: true, message: 'notified' };
      } catch (e) {
        return { url: l.url, ok: false, message: e instanceof Error ? e.message : String(e) };
      }
    }));
  }

  private set(state: ListenerState, next: ListenerState['state']): void {
    if (state.state === next) return;
    state.state = next;
    state.since = this.now();
  }
}
