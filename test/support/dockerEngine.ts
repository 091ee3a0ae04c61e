import { execFile, execFileSync, spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { findInPath } from '../../src/settings.js';

/**
 * A real Docker engine for tests, following ../shared/docs/real-docker-engine.md:
 * dockerd in a network namespace of its own (entered with nsenter, never
 * `ip netns exec`), no bridge, its own data/exec roots and socket under
 * /tmp, and a local busybox image. Containers use `--network host`, which is
 * the namespace's loopback; whatever must reach them runs in the namespace
 * too, and the test process reaches it through unix sockets (which are not
 * network-namespaced).
 */
export interface DockerEngine {
  /** Network namespace name. */
  readonly name: string;
  readonly dir: string;
  /** `/run/netns/<name>`, for `nsenter --net=`. */
  readonly netns: string;
  readonly socket: string;
  /** `unix://<socket>`, for DOCKER_HOST. */
  readonly dockerHost: string;
  /** Runs the docker CLI against this engine; rejects with its output on failure. */
  docker(args: string[], timeoutMs?: number): Promise<string>;
  /** Starts a process inside the namespace. */
  spawnInside(command: string, args: string[], options?: SpawnOptions): ChildProcess;
  /** A unix socket (outside) that reaches 127.0.0.1:port inside the namespace. */
  forward(port: number): Promise<string>;
  /** Stops dockerd (SIGTERM, as a service manager would) and starts it again on the same data. */
  restartDaemon(): Promise<void>;
  /** Stops dockerd (SIGTERM) and leaves it stopped; with `liveRestore` its containers keep running. */
  stopDaemon(): Promise<void>;
  /** Starts dockerd again after stopDaemon(). */
  startDaemon(): Promise<void>;
  /** Tears everything down; safe to call more than once. */
  stop(): Promise<void>;
}

export const IMAGE = 'local/busybox:1';
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const FORWARDER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'unixForwarder.js');
const INSTALL = 'apt-get install -y docker.io busybox-static iproute2 gcc libc6-dev';

/** Why a real engine cannot run here, with what to install; empty when it can. */
export function missingPrerequisites(): string[] {
  const problems: string[] = [];
  if (process.getuid?.() !== 0) problems.push('the Docker tests must run as root (they create a network namespace and start dockerd)');
  for (const [bin, pkg] of [['dockerd', 'docker.io'], ['docker', 'docker.io'], ['containerd', 'docker.io'], ['runc', 'docker.io'], ['ip', 'iproute2'], ['nsenter', 'util-linux'], ['tar', 'tar'], ['gcc', 'gcc']] as const) {
    if (!which(bin)) problems.push(`${bin} is missing (package ${pkg})`);
  }
  const busybox = busyboxPath();
  if (!busybox) problems.push('busybox is missing (package busybox-static)');
  else if (!isStatic(busybox)) problems.push(`${busybox} is not statically linked (package busybox-static)`);
  return problems;
}

/** Fails loudly, naming the packages, instead of skipping. */
export function requirePrerequisites(): void {
  const problems = missingPrerequisites();
  if (problems.length > 0) {
    throw new Error(`The Docker tests need a real Docker engine and cannot run here:\n  - ${problems.join('\n  - ')}\nInstall what is missing, as root: ${INSTALL}`);
  }
}

export interface EngineOptions {
  tag: string;
  swarm?: boolean;
  /**
   * Run in the network namespace of this engine instead of one of its own
   * (several engines on one host, reached by their unix sockets). The
   * namespace stays with its owner: stop() tears down only this engine.
   */
  inside?: DockerEngine;
  /** More `--host` listeners, e.g. `tcp://0.0.0.0:2375` (reachable from namespaces linked to this one). */
  hosts?: string[];
  /** `--tlsverify` on the tcp listeners, with these PEM files (the CA that signs client certificates). */
  tls?: { ca: string; cert: string; key: string };
  /** `--live-restore`: containers keep running while dockerd is stopped. */
  liveRestore?: boolean;
}

/**
 * Starts dockerd in namespace `dfp-<tag>-<pid>` (or in the namespace of
 * `inside`) and imports the busybox image. The pid keeps concurrent test
 * runs apart; leftovers of runs whose process died (a killed worker) are
 * torn down first.
 */
export async function startDockerEngine(options: EngineOptions): Promise<DockerEngine> {
  requirePrerequisites();
  cleanLeftovers();
  const own = `dfp-${options.tag}-${process.pid}`;
  const dir = path.join('/tmp', own);
  const ownsNetns = options.inside === undefined;
  const name = options.inside?.name ?? own;
  teardownSync(name, dir, ownsNetns);
  fs.mkdirSync(dir, { recursive: true });
  if (ownsNetns) {
    execFileSync('ip', ['netns', 'add', name]);
    execFileSync('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  }
  const netns = `/run/netns/${name}`;
  const socket = path.join(dir, 'docker.sock');
  const env = { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: path.join(dir, 'cli') };
  const forwarders = new Map<number, { child: ChildProcess; socket: string }>();
  let daemon: ChildProcess | undefined;
  let stopped = false;

  // Whatever happens to the test process, nothing is left behind.
  const onExit = () => teardownSync(name, dir, ownsNetns);
  process.once('exit', onExit);

  const startDaemon = async () => {
    const log = fs.openSync(path.join(dir, 'dockerd.log'), 'a');
    daemon = spawn('nsenter', [
      `--net=${netns}`, 'dockerd',
      '--data-root', path.join(dir, 'data'), '--exec-root', path.join(dir, 'exec'),
      '--host', `unix://${socket}`, '--pidfile', path.join(dir, 'dockerd.pid'),
      '--bridge=none',
      ...(options.hosts ?? []).flatMap((h) => ['--host', h]),
      ...(options.tls ? ['--tlsverify', '--tlscacert', options.tls.ca, '--tlscert', options.tls.cert, '--tlskey', options.tls.key] : []),
      ...(options.liveRestore ? ['--live-restore'] : []),
    ], { detached: true, stdio: ['ignore', log, log] });
    fs.closeSync(log);
    daemon.unref();
    const deadline = Date.now() + 30_000;
    while (!(await ping(socket))) {
      if (daemon.exitCode !== null || Date.now() > deadline) {
        throw new Error(`dockerd did not start (exit ${daemon.exitCode}):\n${tail(path.join(dir, 'dockerd.log'))}`);
      }
      await sleep(50);
    }
  };

  const docker = (args: string[], timeoutMs = 30_000) =>
    new Promise<string>((resolve, reject) => {
      execFile('docker', args, { env, timeout: timeoutMs, maxBuffer: 8 * 1024 * 1024 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`docker ${args.join(' ')} failed: ${stderr || err.message}`));
        else resolve(stdout.trim());
      });
    });

  const engine: DockerEngine = {
    name,
    dir,
    netns,
    socket,
    dockerHost: `unix://${socket}`,
    docker,
    spawnInside(command, args, spawnOptions = {}) {
      return spawn('nsenter', [`--net=${netns}`, command, ...args], spawnOptions);
    },
    forward: (port) => startForwarder(engine.spawnInside, dir, port, forwarders),
    async restartDaemon() {
      await stopDaemon(dir, daemon);
      await startDaemon();
    },
    stopDaemon: () => stopDaemon(dir, daemon),
    startDaemon,
    async stop() {
      if (stopped) return;
      stopped = true;
      process.removeListener('exit', onExit);
      // Containers go first with SIGKILL (docker rm -f), so that dockerd does not wait on their stop timeouts.
      if (options.swarm) await docker(['swarm', 'leave', '--force'], 20_000).catch(() => undefined);
      const ids = await docker(['ps', '-aq'], 10_000).catch(() => '');
      if (ids !== '') await docker(['rm', '-f', ...ids.split(/\s+/)], 30_000).catch(() => undefined);
      await stopDaemon(dir, daemon).catch(() => undefined);
      for (const f of forwarders.values()) f.child.kill('SIGKILL');
      teardownSync(name, dir, ownsNetns);
    },
  };

  try {
    await startDaemon();
    await importBusybox(dir, env);
    if (options.swarm) await docker(['swarm', 'init', '--advertise-addr', '127.0.0.1'], 60_000);
  } catch (e) {
    await engine.stop();
    throw e;
  }
  return engine;
}

/** A unix socket `<dir>/fwd-<port>.sock` that reaches 127.0.0.1:port where `spawnInside` runs (one per port). */
async function startForwarder(spawnInside: DockerEngine['spawnInside'], dir: string, port: number, forwarders: Map<number, { child: ChildProcess; socket: string }>): Promise<string> {
  const known = forwarders.get(port);
  if (known) return known.socket;
  const sock = path.join(dir, `fwd-${port}.sock`);
  const child = spawnInside(process.execPath, [FORWARDER, sock, '127.0.0.1', String(port)], { stdio: 'ignore' });
  forwarders.set(port, { child, socket: sock });
  const deadline = Date.now() + 10_000;
  while (!fs.existsSync(sock)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the forwarder to port ${port} did not start`);
    await sleep(10);
  }
  return sock;
}

/**
 * The network namespace of a container of `engine` attached to `network`
 * (an overlay): what runs there (flow-proxy, load clients) reaches swarm
 * tasks at their own addresses, as a proxy deployed on that network does.
 * The container only sleeps; the processes are the test's, with the host's
 * files. stop() kills every process in that namespace, then the container;
 * so does the engine's stop, and the test process's exit.
 */
export async function containerNamespace(engine: DockerEngine, name: string, network: string): Promise<DockerEngine> {
  await engine.docker(['run', '-d', '--name', name, '--network', network, IMAGE, 'sleep', '1000000']);
  const pid = Number(await engine.docker(['inspect', '--format', '{{.State.Pid}}', name]));
  const netns = `/proc/${pid}/ns/net`;
  const inode = fs.readlinkSync(netns);
  const dir = fs.mkdtempSync(path.join(engine.dir, `${name}-`));
  const forwarders = new Map<number, { child: ChildProcess; socket: string }>();
  const killAll = () => {
    for (const other of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(other) || Number(other) === pid || Number(other) === process.pid) continue;
      try {
        if (fs.readlinkSync(`/proc/${other}/ns/net`) === inode) process.kill(Number(other), 'SIGKILL');
      } catch {
        // gone, or not ours to read
      }
    }
  };
  process.once('exit', killAll);
  const spawnInside: DockerEngine['spawnInside'] = (command, args, options = {}) => spawn('nsenter', [`--net=${netns}`, command, ...args], options);
  const view: DockerEngine = {
    ...engine,
    dir,
    netns,
    spawnInside,
    forward: (port) => startForwarder(spawnInside, dir, port, forwarders),
    async stop() {
      killAll();
      process.removeListener('exit', killAll);
      await engine.docker(['rm', '-f', name]).catch(() => undefined);
    },
  };
  return view;
}

/** A tiny image from the static busybox (sh, httpd, wget, sleep, nc) and oneshot-http. */
async function importBusybox(dir: string, env: NodeJS.ProcessEnv): Promise<void> {
  const rootfs = path.join(dir, 'rootfs');
  for (const d of ['bin', 'tmp', 'www', 'etc']) fs.mkdirSync(path.join(rootfs, d), { recursive: true });
  fs.copyFileSync(busyboxPath() as string, path.join(rootfs, 'bin', 'busybox'));
  fs.chmodSync(path.join(rootfs, 'bin', 'busybox'), 0o755);
  for (const c of ['sh', 'httpd', 'sleep', 'echo', 'cat', 'nc', 'wget', 'mkdir', 'kill', 'true', 'false', 'test']) {
    fs.symlinkSync('busybox', path.join(rootfs, 'bin', c));
  }
  // A tiny HTTP server that answers in one write (test/support/c/oneshot-http.c), built static for the image.
  const source = path.join(ROOT, 'test', 'support', 'c', 'oneshot-http.c');
  const cc = spawnSync('gcc', ['-static', '-Os', '-o', path.join(rootfs, 'bin', 'oneshot-http'), source], { encoding: 'utf8', timeout: 60_000 });
  if (cc.status !== 0) throw new Error(`building oneshot-http failed (gcc and libc6-dev are needed): ${cc.stderr ?? cc.error?.message}`);
  const r = spawnSync('sh', ['-c', `tar -C '${rootfs}' -c . | docker import - ${IMAGE}`], { env, encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`docker import failed: ${r.stderr}`);
}

async function stopDaemon(dir: string, child: ChildProcess | undefined): Promise<void> {
  const pid = readPid(path.join(dir, 'dockerd.pid')) ?? child?.pid;
  if (pid === undefined || !alive(pid)) return;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 20_000;
  while (alive(pid) && Date.now() < deadline) await sleep(50);
  if (alive(pid)) process.kill(pid, 'SIGKILL');
  while (alive(pid)) await sleep(20);
}

/** Tears down the namespaces of earlier test processes that are gone (never those of a live one). */
function cleanLeftovers(): void {
  let names: string[] = [];
  try {
    names = fs.readdirSync('/run/netns');
  } catch {
    return;
  }
  for (const name of names) {
    const owner = /^dfp-[a-z0-9-]+-(\d+)$/.exec(name);
    if (owner && !alive(Number(owner[1]))) teardownSync(name, path.join('/tmp', name));
  }
  // Engines that ran inside another engine's namespace leave only their directory.
  for (const name of fs.readdirSync('/tmp')) {
    const owner = /^dfp-[a-z0-9-]+-(\d+)$/.exec(name);
    if (owner && !alive(Number(owner[1])) && !fs.existsSync(`/run/netns/${name}`)) teardownSync(name, path.join('/tmp', name), false);
  }
}

/**
 * Kills every process left in the namespace (by pid), unmounts what dockerd
 * mounted under the directory, deletes the namespace and the directory.
 * An engine in a namespace it does not own kills only its own processes
 * (dockerd, and whatever names its directory: containerd, shims).
 * Synchronous so that it can run from an exit handler.
 */
export function teardownSync(name: string, dir: string, ownsNetns = true): void {
  const dockerdPid = readPid(path.join(dir, 'dockerd.pid'));
  const pids = new Set<number>(dockerdPid !== undefined && alive(dockerdPid) ? [dockerdPid] : []);
  if (!ownsNetns) for (const pid of processesNaming(dir)) pids.add(pid);
  if (ownsNetns && fs.existsSync(`/run/netns/${name}`)) {
    const listed = spawnSync('ip', ['netns', 'pids', name], { encoding: 'utf8' });
    for (const p of (listed.stdout ?? '').split(/\s+/)) if (/^\d+$/.test(p)) pids.add(Number(p));
  }
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  const deadline = Date.now() + 5_000;
  while ([...pids].some(alive) && Date.now() < deadline) spawnSync('sleep', ['0.05']);
  // Deepest mounts first; lazy, so that a busy one never blocks the teardown.
  const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) spawnSync('umount', ['-l', m]);
  if (ownsNetns && fs.existsSync(`/run/netns/${name}`)) spawnSync('ip', ['netns', 'del', name]);
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Processes whose command line names `dir` (an engine's containerd and shims). */
function processesNaming(dir: string): number[] {
  const found: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').some((arg) => arg === dir || arg.startsWith(`${dir}/`))) found.push(Number(entry));
    } catch {
      // gone
    }
  }
  return found;
}

function ping(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ socketPath: socket, path: '/_ping', timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie is dead for our purposes.
  try {
    return !/^\S+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(file, 'utf8').trim());
    return pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function which(bin: string): string | undefined {
  return findInPath(bin, [process.env.PATH, '/usr/sbin:/sbin:/usr/bin:/bin'].filter(Boolean).join(':'));
}

function busyboxPath(): string | undefined {
  return ['/bin/busybox', '/usr/bin/busybox'].find((p) => fs.existsSync(p)) ?? which('busybox');
}

/** True when the ELF file has no program interpreter (PT_INTERP), i.e. it runs in an empty image. */
function isStatic(file: string): boolean {
  const b = fs.readFileSync(file);
  if (b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2) return false;
  const phoff = Number(b.readBigUInt64LE(0x20));
  const phentsize = b.readUInt16LE(0x36);
  const phnum = b.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) if (b.readUInt32LE(phoff + i * phentsize) === 3) return false;
  return true;
}

function tail(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-30).join('\n');
  } catch {
    return '';
  }
}
