import type Docker from 'dockerode';
import { backoffDelay, sleepUnlessAborted as sleep, type BackoffPolicy } from '../../core/backoff.js';
import type { EngineHost } from './containerAddress.js';
import type { DockerState } from './labels.js';
import type { Log } from '../../core/log.js';
import { FlowError } from '../../domain/errors.js';
import { isLoopback, type EngineSpec } from './dockerHosts.js';
import { merge, tag, type EngineState, type EngineStatus } from './engineStates.js';
import { watchEvents, type DockerEvent } from './events.js';
import { readDockerState } from './readState.js';
import type { SwarmRouting } from './swarmTasks.js';
import type { DockerSource, WatchCallbacks } from './source.js';

export interface EngineSetOptions {
  notifyLabel: string;
  /** SWARM_ROUTING, for which services get their tasks listed. */
  swarmRouting?: SwarmRouting;
  /** Server identities are `<engine>/<container id>` (several engines); a single DOCKER_HOST keeps bare container ids. */
  prefixIds: boolean;
  /** Longest a full listing of one engine may take. */
  readMs: number;
  /** Longest opening an events stream may take. */
  connectMs: number;
  /** Once one engine answered a read, the others get this long before their last known state is used instead. */
  settleMs: number;
  /**
   * An engine whose stream is open is pinged this often, and is down when it
   * does not answer within `pingTimeoutMs`: a host that vanished without
   * closing the connection leaves a silent stream, not a broken one.
   */
  pingMs: number;
  pingTimeoutMs: number;
  backoff: BackoffPolicy;
  random?: () => number;
  log: Log;
  now?: () => Date;
}

interface Member {
  spec: EngineSpec;
  docker: Docker;
  log: Log;
  /** The watch loop runs (after the first sync); until then every read tries the engine. */
  watching: boolean;
  streamOpen: boolean;
  /** Aborting it drops the current events stream, so that the loop reconnects (a read that failed). */
  stream?: AbortController;
  opens: number;
  failed: boolean;
  state: EngineState;
  since: Date;
  lastError?: string;
  lastRead?: Date;
  /** Its last listing, with engine names and identities applied. */
  known?: DockerState;
  /** A read still running after the others settled: the next sync waits for it instead of starting another. */
  inflight?: Promise<DockerState>;
}

/**
 * Several Docker engines behind one DockerSource: every engine has its own
 * events stream (reconnected with backoff on its own) and its last listing.
 * A read merges the engines' states, each container tagged with its engine
 * (and, with several engines, an identity `<engine>/<id>`). An engine that is
 * down is not waited for: its last known containers stay in the merged state
 * (HAProxy's health checks decide whether they still serve) until its stream
 * opens again and it is read. A read fails only when no engine answered.
 */
export class EngineSet implements DockerSource {
  private readonly members: Member[];
  private readonly random: () => number;
  private readonly now: () => Date;
  private onLate: (() => void) | undefined;

  constructor(engines: ReadonlyArray<{ spec: EngineSpec; docker: Docker }>, private readonly options: EngineSetOptions) {
    this.random = options.random ?? Math.random;
    this.now = options.now ?? (() => new Date());
    this.members = engines.map(({ spec, docker }) => ({
      spec, docker, log: options.log.child({ engine: spec.name }), watching: false, streamOpen: false, opens: 0, failed: false, state: 'connecting', since: this.now(),
    }));
  }

  /** The engines as the address rules see them. */
  hosts(): Record<string, EngineHost> {
    return Object.fromEntries(this.members.map(({ spec }) => [spec.name, {
      name: spec.name, address: spec.address, addressFrom: spec.addressFrom, local: isLoopback(spec.address), ...(spec.network !== undefined && { network: spec.network }),
    }]));
  }

  async read(signal: AbortSignal): Promise<DockerState> {
    const started = this.members.filter((m) => !m.watching || m.streamOpen).map((m) => ({ m, p: (m.inflight ??= this.readOne(m, signal)) }));
    const answered = new Set<Member>();
    let first: () => void = () => undefined;
    const firstAnswer = new Promise<void>((resolve) => (first = resolve));
    const all = Promise.all(started.map(({ m, p }) => p.then(() => {
      answered.add(m);
      first();
    }, () => undefined)));
    // Once one engine answered, a slow one (a host that just went away) may hold the sync up only this long.
    await Promise.race([all, firstAnswer.then(() => sleep(this.options.settleMs, signal))]);
    if (signal.aborted) throw new FlowError('ABORTED', 'discovery stopped');
    for (const { m, p } of started) {
      if (answered.has(m) || m.inflight !== p) continue;
      // Still reading: its last known state is used now, and its answer asks for another sync.
      void p.then(() => this.onLate?.(), () => undefined);
    }
    if (answered.size === 0) {
      const why = this.members.map((m) => `${m.spec.name}: ${m.lastError ?? (m.inflight ? 'no answer yet' : m.state)}`).join('; ');
      throw new FlowError('DOCKER_UNAVAILABLE', `no Docker engine could be read (${why})`);
    }
    const known = (members: readonly Member[]) => members.map((m) => m.known).filter((s): s is DockerState => s !== undefined);
    // Services as the engines that answered now list them, before the last lists of the others.
    return merge(known(this.members), known([...this.members.filter((m) => answered.has(m)), ...this.members.filter((m) => !answered.has(m))]));
  }

  /** Follows every engine's events until `signal` aborts; each engine reconnects on its own. */
  async watch(callbacks: WatchCallbacks): Promise<void> {
    this.onLate = callbacks.onResync;
    await Promise.all(this.members.map((m) => this.follow(m, callbacks)));
  }

  status(): EngineStatus[] {
    return this.members.map((m) => ({
      name: m.spec.name,
      url: m.spec.url,
      tls: m.spec.tls,
      address: m.spec.address,
      addressFrom: m.spec.addressFrom,
      ...(m.spec.network !== undefined && { network: m.spec.network }),
      state: m.state,
      since: m.since.toISOString(),
      ...(m.lastRead && { lastRead: m.lastRead.toISOString() }),
      ...(m.lastError !== undefined && { lastError: m.lastError }),
      containers: m.known?.containers.length ?? 0,
      services: m.known?.services.length ?? 0,
      reconnects: Math.max(0, m.opens - 1),
    }));
  }

  /** Every engine's events stream is open. */
  connected(): boolean {
    return this.members.every((m) => m.streamOpen);
  }

  reconnects(): number {
    return this.members.reduce((n, m) => n + Math.max(0, m.opens - 1), 0);
  }

  private async readOne(m: Member, signal: AbortSignal): Promise<DockerState> {
    try {
      const state = tag(await readDockerState(m.docker, { notifyLabel: this.options.notifyLabel, signal, timeoutMs: this.options.readMs, ...(this.options.swarmRouting && { swarmRouting: this.options.swarmRouting }) }), m.spec.name, this.options.prefixIds);
      m.known = state;
      m.lastRead = this.now();
      m.failed = false;
      this.update(m);
      return state;
    } catch (e) {
      if (!signal.aborted) {
        m.lastError = errorText(e);
        m.failed = true;
        this.update(m);
        // Its stream may look open while the host is gone: drop it, so that reconnecting decides when it is back.
        m.stream?.abort(`its events stream was dropped because a read failed: ${m.lastError}`);
      }
      throw e;
    } finally {
      m.inflight = undefined;
    }
  }

  private async follow(m: Member, callbacks: WatchCallbacks): Promise<void> {
    const { signal } = callbacks;
    m.watching = true;
    let attempt = 0;
    while (!signal.aborted) {
      let openedAt: number | undefined;
      const stream = new AbortController();
      m.stream = stream;
      try {
        await watchEvents(m.docker, {
          signal: AbortSignal.any([signal, stream.signal]),
          connectTimeoutMs: this.options.connectMs,
          onOpen: () => {
            openedAt = performance.now();
            m.opens++;
            m.streamOpen = true;
            m.failed = false;
            this.update(m);
            void this.heartbeat(m, stream, signal);
            callbacks.onOpen({ engine: m.spec.name, reconnect: m.opens > 1 });
          },
          onEvent: (event) => callbacks.onEvent(this.options.prefixIds && event.id !== '' ? { ...event, id: `${m.spec.name}/${event.id}` } : event),
        });
        if (!signal.aborted) m.lastError = stream.signal.aborted ? String(stream.signal.reason) : 'Docker closed the events stream';
      } catch (e) {
        if (signal.aborted) break;
        m.lastError = `events stream unavailable: ${errorText(e)}`;
      } finally {
        stream.abort('the stream ended');
      }
      m.streamOpen = false;
      if (signal.aborted) break;
      m.failed = true;
      this.update(m);
      // A stream that stayed up a while resets the backoff; one that breaks at once keeps backing off.
      if (openedAt !== undefined && performance.now() - openedAt > 1000) attempt = 0;
      if (attempt === 0) m.log.warn({ err: m.lastError }, `docker discovery: engine "${m.spec.name}" is down (${m.lastError}); its last known containers stay routed while their health checks pass; reconnecting`);
      else m.log.debug({ err: m.lastError, attempt: attempt + 1 }, `docker discovery: engine "${m.spec.name}" still down`);
      await sleep(backoffDelay(attempt++, this.options.backoff, this.random()), signal);
    }
    m.streamOpen = false;
  }

  /** Pings the engine while this stream lasts; no answer in time drops the stream (the engine is then down). */
  private async heartbeat(m: Member, stream: AbortController, signal: AbortSignal): Promise<void> {
    const alive = AbortSignal.any([signal, stream.signal]);
    while (!alive.aborted) {
      await sleep(this.options.pingMs, alive);
      if (alive.aborted) return;
      // One controller per ping, unlinked when done: the stream's signal may live for days.
      const ping = new AbortController();
      const stop = () => ping.abort();
      alive.addEventListener('abort', stop, { once: true });
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        ping.abort();
      }, this.options.pingTimeoutMs);
      try {
        // dockerode passes abortSignal on to the request; its typings do not list it.
        await (m.docker.ping as (opts: { abortSignal: AbortSignal }) => Promise<unknown>).call(m.docker, { abortSignal: ping.signal });
      } catch (e) {
        if (alive.aborted) return;
        stream.abort(`events stream dropped: ${timedOut ? `no answer to a ping within ${this.options.pingTimeoutMs} ms` : `a ping failed: ${errorText(e)}`}`);
        return;
      } finally {
        clearTimeout(timer);
        alive.removeEventListener('abort', stop);
      }
    }
  }

  /** Recomputes an engine's state; `since` moves only when it changes. */
  private update(m: Member): void {
    const state: EngineState = m.failed ? 'down' : m.streamOpen ? 'up' : m.opens === 0 ? 'connecting' : 'down';
    if (state === m.state) return;
    const was = m.state;
    m.state = state;
    m.since = this.now();
    if (state === 'up' && was === 'down') m.log.info({ containers: m.known?.containers.length ?? 0 }, `docker discovery: engine "${m.spec.name}" is back`);
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
