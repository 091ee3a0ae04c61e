import { execFileSync, spawn, type ChildProcess } from 'node:child_process';

/**
 * A network namespace of the test's own, joined to the host by a veth pair
 * on a /30 that exists only between the two ends. Only these two addresses
 * ever carry traffic. partition() cuts the link, heal() restores it.
 */
export interface Netns {
  name: string;
  hostIp: string;
  nsIp: string;
  /** Runs a command inside the namespace. */
  spawn(command: string, args: string[], options?: { env?: NodeJS.ProcessEnv }): ChildProcess;
  exec(command: string, args: string[]): string;
  partition(): void;
  heal(): void;
  destroy(): void;
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: 'ignore' });
}

export function createNetns(tag: string): Netns {
  const id = `${process.pid % 1000}${Math.floor(Math.random() * 1000)}`;
  const name = `fp${tag}${id}`.slice(0, 14);
  const hostIf = `fh${id}`.slice(0, 14);
  const nsIf = `fn${id}`.slice(0, 14);
  const subnet = 1 + Math.floor(Math.random() * 250);
  const hostIp = `10.231.${subnet}.1`;
  const nsIp = `10.231.${subnet}.2`;
  const children: ChildProcess[] = [];
  ip('netns', 'add', name);
  try {
    ip('-n', name, 'link', 'set', 'lo', 'up');
    ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf);
    ip('link', 'set', nsIf, 'netns', name);
    ip('addr', 'add', `${hostIp}/30`, 'dev', hostIf);
    ip('link', 'set', hostIf, 'up');
    ip('-n', name, 'addr', 'add', `${nsIp}/30`, 'dev', nsIf);
    ip('-n', name, 'link', 'set', nsIf, 'up');
  } catch (e) {
    try {
      ip('netns', 'del', name);
    } catch {
      // already gone
    }
    throw new Error(`cannot create a network namespace (root and iproute2 are needed): ${(e as Error).message}`);
  }
  const enter = ['--net=/run/netns/' + name];
  return {
    name,
    hostIp,
    nsIp,
    spawn(command, args, options = {}) {
      const child = spawn('nsenter', [...enter, command, ...args], { env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      return child;
    },
    exec(command, args) {
      return execFileSync('nsenter', [...enter, command, ...args], { encoding: 'utf8', timeout: 10_000 });
    },
    partition() {
      ip('link', 'set', hostIf, 'down');
    },
    heal() {
      ip('link', 'set', hostIf, 'up');
    },
    destroy() {
      for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
      try {
        ip('link', 'del', hostIf);
      } catch {
        // went with the namespace
      }
      try {
        ip('netns', 'del', name);
      } catch {
        // already gone
      }
    },
  };
}
