import type Docker from 'dockerode';
import { FlowError } from '../../domain/errors.js';

/** One Docker event, cut down to what decides whether to resync. */
export interface DockerEvent {
  type: string;
  action: string;
  id: string;
  attributes: Readonly<Record<string, string>>;
  /** Nanoseconds since the epoch, as Docker stamps it. */
  timeNano?: number;
}

// `kill` is sent before the process ends (docker stop, docker kill): its server leaves rotation at once.
const CONTAINER_ACTIONS = ['start', 'kill', 'die', 'stop', 'destroy', 'pause', 'unpause', 'restart', 'health_status'];
const SERVICE_ACTIONS = ['create', 'update', 'remove'];
const NETWORK_ACTIONS = ['connect', 'disconnect'];

const NONE: ReadonlySet<string> = new Set();

/** Asks Docker for the events that can change what is routed, and nothing else. */
export const EVENT_FILTERS = {
  type: ['container', 'service', 'network'] as Array<'container' | 'service' | 'network'>,
  event: [...new Set([...CONTAINER_ACTIONS, ...SERVICE_ACTIONS, ...NETWORK_ACTIONS])],
};

/**
 * Whether an event calls for a resync. Container events carry the
 * container's labels, so unrelated containers are ignored, except the task
 * containers of swarm services routed to their tasks (`taskServices`, by
 * service id: a task container carries its service's id, not its labels);
 * service and network events carry no labels and always count (a resync is
 * cheap and changes nothing when nothing changed).
 */
export function isRelevant(event: DockerEvent, notifyLabel: string, taskServices: ReadonlySet<string> = NONE): boolean {
  const action = event.action.split(':')[0] ?? '';
  if (event.type === 'container') {
    if (!CONTAINER_ACTIONS.includes(action)) return false;
    const service = event.attributes['com.docker.swarm.service.id'];
    return event.attributes[notifyLabel] === 'true' || (service !== undefined && taskServices.has(service));
  }
  if (event.type === 'service') return SERVICE_ACTIONS.includes(action);
  if (event.type === 'network') return NETWORK_ACTIONS.includes(action);
  return event.type === 'unknown';
}

export interface WatchOptions {
  signal: AbortSignal;
  /** How long opening the stream may take. */
  connectTimeoutMs: number;
  /** The stream is open: events from now on will be seen. */
  onOpen: () => void;
  onEvent: (event: DockerEvent) => void;
}

/**
 * Follows Docker's event stream until it ends. Resolves when Docker closes
 * it or the signal aborts, rejects with a typed error when it cannot be
 * opened or breaks. Reconnecting is the caller's policy.
 */
export async function watchEvents(docker: Docker, options: WatchOptions): Promise<void> {
  const connection = new AbortController();
  const abort = () => connection.abort();
  options.signal.addEventListener('abort', abort, { once: true });
  const timer = setTimeout(abort, options.connectTimeoutMs);
  try {
    let stream: NodeJS.ReadableStream;
    try {
      stream = await docker.getEvents({ filters: EVENT_FILTERS, abortSignal: connection.signal });
    } catch (e) {
      if (options.signal.aborted) return;
      const why = connection.signal.aborted ? `no answer within ${options.connectTimeoutMs} ms` : e instanceof Error ? e.message : String(e);
      throw new FlowError('DOCKER_EVENTS', `could not open the Docker events stream: ${why}`, { cause: e });
    } finally {
      clearTimeout(timer);
    }
    options.onOpen();
    let buffered = '';
    try {
      for await (const chunk of stream as AsyncIterable<Buffer | string>) {
        buffered += chunk.toString();
        let newline: number;
        while ((newline = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, newline).trim();
          buffered = buffered.slice(newline + 1);
          if (line !== '') options.onEvent(parseEvent(line));
        }
      }
    } catch (e) {
      if (options.signal.aborted) return;
      throw new FlowError('DOCKER_EVENTS', `the Docker events stream broke: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
  } finally {
    options.signal.removeEventListener('abort', abort);
    connection.abort();
  }
}

/** One line of the stream; a line that is not an event still counts as "something happened". */
export function parseEvent(line: string): DockerEvent {
  try {
    const raw = JSON.parse(line) as { Type?: string; Action?: string; status?: string; id?: string; Actor?: { ID?: string; Attributes?: Record<string, string> }; timeNano?: number };
    return {
      type: raw.Type ?? '',
      action: raw.Action ?? raw.status ?? '',
      id: raw.Actor?.ID ?? raw.id ?? '',
      attributes: raw.Actor?.Attributes ?? {},
      ...(raw.timeNano !== undefined && { timeNano: raw.timeNano }),
    };
  } catch {
    return { type: 'unknown', action: line.slice(0, 80), id: '', attributes: {} };
  }
}
