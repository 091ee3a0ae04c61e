import type { Model } from '../../render/model.js';
import type { RenderedFiles } from './files.js';
import type { Alert } from '../ports.js';

/**
 * Which services make HAProxy refuse a config: first from what its errors
 * point at (a line of the candidate, a proxy name), else by group testing
 * (checking the config without halves of the suspects). Pure but for the
 * `valid` check it is given.
 */

/** The services HAProxy's alerts point at, with HAProxy's own message for each. */
export function culpritsFromAlerts(alerts: readonly Alert[], rendered: RenderedFiles, model: Model): Map<string, string> {
  const culprits = new Map<string, string>();
  for (const a of alerts) {
    const owners = (a.line !== undefined ? rendered.owners[a.line - 1] : undefined) ?? namesToOwners(a.names, model);
    for (const o of owners ?? []) culprits.set(o, `HAProxy refused the configuration of service "${o}": ${candidateMessage(a)}`);
  }
  return culprits;
}

/**
 * The culprits of a refused config: from the alerts when they name them,
 * else the suspects without which the config is valid.
 */
export async function attribute(alerts: readonly Alert[], rendered: RenderedFiles, model: Model, suspects: readonly string[], valid: (without: Set<string>) => Promise<boolean>): Promise<Map<string, string>> {
  const named = culpritsFromAlerts(alerts, rendered, model);
  if (named.size > 0) return named;
  const text = alerts.map((a) => a.message).join(' ');
  return new Map((await bisect(suspects, valid)).map((name) => [name, `HAProxy refused the configuration of service "${name}": ${text}`]));
}

/** HAProxy's message with the candidate file's path shortened to haproxy.cfg, as callers see it. */
export function candidateMessage(a: Alert): string {
  return a.message.replace(/\[[^\]]*candidate\/haproxy\.cfg:(\d+)\]/, '[haproxy.cfg:$1]');
}

/** The services that own the proxies (backends, frontends, listens) an alert names. */
export function namesToOwners(names: readonly string[], model: Model): string[] | undefined {
  const owners = new Set<string>();
  for (const n of names) {
    const owner = model.layout.backends.get(n)?.view.owner;
    if (owner) owners.add(owner);
    const fe = model.view.tcpFrontends.find((f) => f.name === n) ?? model.view.listens.find((l) => l.name === n);
    for (const o of fe?.owners ?? []) owners.add(o);
  }
  return owners.size > 0 ? [...owners] : undefined;
}

/** Reload failures HAProxy can name, such as a port another process holds. */
export function attributeReloadFailure(message: string, model: Model, suspects: readonly string[]): Map<string, string> {
  const culprits = new Map<string, string>();
  const port = /cannot bind socket[^\n]*?:(\d+)\]/i.exec(message) ?? /Starting (?:frontend|proxy) ([^:]+):/i.exec(message);
  if (port) {
    for (const fe of [...model.view.tcpFrontends, ...model.view.listens]) {
      if (String(fe.port) === port[1] || fe.name === port[1]) {
        for (const o of fe.owners) if (suspects.includes(o)) culprits.set(o, `HAProxy could not start what service "${o}" needs: ${message}`);
      }
    }
  }
  return culprits;
}

/** Finds the suspects whose presence makes `valid` false, testing halves (group testing). */
export async function bisect(suspects: readonly string[], valid: (without: Set<string>) => Promise<boolean>): Promise<string[]> {
  if (suspects.length === 0) return [];
  if (!(await valid(new Set(suspects)))) return []; // broken even without them: not their fault
  const culprits = new Set<string>();
  const find = async (candidates: readonly string[], excluded: readonly string[]): Promise<void> => {
    if (candidates.length === 0) return;
    if (await valid(new Set([...excluded, ...culprits]))) return;
    if (candidates.length === 1) {
      culprits.add(candidates[0] as string);
      return;
    }
    const half = Math.ceil(candidates.length / 2);
    const a = candidates.slice(0, half);
    const b = candidates.slice(half);
    await find(a, [...excluded, ...b]);
    await find(b, excluded);
  };
  await find(suspects, []);
  return [...culprits];
}
