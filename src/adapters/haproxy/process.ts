// Long on purpose: HAProxy's master-worker life (start, reload confirmed by a new worker, stop, crash) is one process protocol.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ReloadResult } from '../../core/ports.js';
import { FlowError } from '../../domain/errors.js';
import { cliCommand } from './cli.js';
import { haproxyEnvironment } from './environment.js';
import { parseAlerts } from './check.js';
import { alive, isLiveHaproxy, readPidFile, signal, socketsOf, waitGone } from './pids.js';

export interface HaproxyPaths {
  bin: string;
  config: string;
  pidFile: string;
  masterSocket: string;
  adminSocket: string;
  /** The master's stdout and stderr: reload outcomes and, with DEBUG, traffic logs. */
  logFile: string;
}

export interface ProcInfo {
  masterPid: number;
  reloads: number;
  failed: number;
  /** Current worker first, then old workers still finishing their connections. */
  workers: Array<{ pid: number; reloads: number }>;
}

export type { ReloadResult };

/** What a recovery tells its owner; both optional. */
export interface RecoveryHooks {
  /** Before a recovery loads the files from disk: runtime changes may have left them behind. */
  beforeRecover?: () => void;
  /** The data plane had to be brought back (worker or master lost). */
  onRecovered?: (what: string) => void;
}

interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/**
 * Supervises one HAProxy master-worker process: starts it (or adopts the one
 * a previous run left serving), reloads it through the master CLI and
 * confirms the outcome, and brings back a lost worker or master.
 */
export class HaproxyProcess {
  private child: ChildProcess | undefined;
  private masterPid: number | undefined;
  private stopping = false;
  private watch: NodeJS.Timeout | undefined;
  private logOffset = 0;
  private recovering = false;
  /** How long the last reload took until its new worker served (see `reload`). */
  private lastServingMs = 0;
  constructor(private readonly paths: HaproxyPaths, private readonly log: Logger, private readonly terminateOld = false, private readonly hooks: RecoveryHooks = {}) {}

  get pid(): number | undefined {
    return this.masterPid;
  }

  /** Adopts a live master from an earlier run, else starts one. The config file must exist. */
  async start(timeoutMs = 30_000): Promise<'started' | 'adopted'> {
    const found = await this.tryAdopt();
    if (found === 'adopted') {
      this.log.info({ masterPid: this.masterPid }, 'adopted running HAProxy');
      this.startWatch();
      return 'adopted';
    }
    await this.spawnMaster(timeoutMs);
    this.startWatch();
    if (found !== undefined) {
      // A master we could not talk to still holds the ports (SO_REUSEPORT let ours bind too):
      // now that ours serves, the old one stops, softly first.
      this.log.warn({ stalePid: found.stale }, 'replacing an unresponsive HAProxy left by an earlier run');
      signal(found.stale, 'SIGUSR1');
      if (!(await waitGone([found.stale], 10_000))) signal(found.stale, 'SIGTERM');
    }
    return 'started';
  }

  /**
   * Adopts the master an earlier run left (pid file, a HAProxy process, its
   * master CLI answering). A master that is alive but does not answer (it
   * may be in the middle of a reload) is given a few seconds, then reported
   * as stale so that it is replaced, never left running beside a new one.
   */
  private async tryAdopt(): Promise<'adopted' | { stale: number } | undefined> {
    const pid = readPidFile(this.paths.pidFile);
    if (pid === undefined || !isLiveHaproxy(pid)) return undefined;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && alive(pid)) {
      try {
        const info = await this.showProc(2000);
        if (info.masterPid === pid) {
          this.masterPid = pid;
          this.logOffset = fileSize(this.paths.logFile);
          return 'adopted';
        }
        break;
      } catch {
        await sleep(100);
      }
    }
    return alive(pid) ? { stale: pid } : undefined;
  }

  private async spawnMaster(timeoutMs: number): Promise<void> {
    for (const f of [this.paths.masterSocket, this.paths.adminSocket, this.paths.pidFile]) fs.rmSync(f, { force: true });
    this.logOffset = fileSize(this.paths.logFile);
    const out = fs.openSync(this.paths.logFile, 'a');
    const child = spawn(
      this.paths.bin,
      ['-W', '-S', `${this.paths.masterSocket},mode,600,level,admin`, '-f', this.paths.config, '-p', this.paths.pidFile],
      { detached: true, stdio: ['ignore', out, out], env: haproxyEnvironment() },
    );
    fs.closeSync(out);
    this.child = child;
    let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let spawnError: Error | undefined;
    child.on('error', (e) => (spawnError = e));
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      if (this.child === child) this.child = undefined;
      if (!this.stopping && this.masterPid === child.pid) void this.recover('master exited');
    });
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (spawnError) throw new FlowError('HAPROXY_SPAWN', `cannot start HAProxy (${this.paths.bin}): ${spawnError.message}`);
      if (exited) {
        const alerts = parseAlerts(this.readNewLog()).map((a) => a.message);
        throw new FlowError('HAPROXY_START', `HAProxy exited at start (code ${exited.code}): ${alerts.join(' | ') || 'no message'}`);
      }
      try {
        const info = await this.showProc(1000);
        if (info.workers.length > 0 && (await this.workerServing(info.workers[0]?.pid as number))) {
          this.masterPid = info.masterPid;
          return;
        }
      } catch {
        // not up yet
      }
      await sleep(10);
    }
    child.kill('SIGKILL');
    throw new FlowError('HAPROXY_START', `HAProxy did not start within ${timeoutMs} ms`);
  }

  /** Master CLI `show proc`, parsed. */
  async showProc(timeoutMs = 2000): Promise<ProcInfo> {
    const text = await cliCommand(this.paths.masterSocket, 'show proc', { timeoutMs });
    return parseShowProc(text);
  }

  private async workerServing(pid: number): Promise<boolean> {
    return (await this.servingWorker()) === pid;
  }

  /** `show proc`, waiting while the master cannot answer (see `masterShowProc`). */
  showProcWhenUp(timeoutMs = 5000): Promise<ProcInfo> {
    return masterShowProc(this.paths.masterSocket, timeoutMs);
  }

  /**
   * Reloads through the master CLI and waits until the new worker answers on
   * the admin socket, or the master reports the reload failed. The new worker
   * serves before the master is back from its wait-mode re-exec, so it is
   * watched directly (`show info` names the worker that answered).
   */
  async reload(timeoutMs = 60_000): Promise<ReloadResult> {
    const started = performance.now();
    const before = await this.showProcWhenUp(Math.min(timeoutMs, 10_000));
    const oldWorkers = new Set(before.workers.map((w) => w.pid));
    this.readNewLog();
    await cliCommand(this.paths.masterSocket, 'reload', { timeoutMs: 5000 });
    const deadline = Date.now() + timeoutMs;
    // Watching takes two CLI connections every few ms, CPU the master needs while it parses the config
    // (at 10,000 services that was as much CPU as the render): the new worker is looked for only after
    // half the time the last reload took.
    await sleep(Math.min(1000, Math.round(this.lastServingMs / 2)));
    let worker: number | undefined;
    let info: ProcInfo | undefined;
    while (Date.now() < deadline) {
      await sleep(2);
      const answering = await this.servingWorker();
      if (answering !== undefined && !oldWorkers.has(answering)) {
        worker = answering;
        break;
      }
      try {
        info = await this.showProc(1000);
      } catch {
        continue; // the master re-executes itself and is briefly unreachable
      }
      if (info.reloads > before.reloads) {
        // A failed reload leaves only the old workers (and counts in `[failed: N]`).
        worker = info.workers.find((w) => !oldWorkers.has(w.pid))?.pid;
        break;
      }
      info = undefined;
    }
    if (worker === undefined && info === undefined) {
      return { ok: false, message: `HAProxy did not finish reloading within ${timeoutMs} ms`, durationMs: performance.now() - started };
    }
    if (worker === undefined) {
      const alerts = parseAlerts(this.readNewLog()).map((a) => a.message);
      return { ok: false, message: alerts.join(' ') || 'HAProxy refused the new configuration', durationMs: performance.now() - started };
    }
    const forkedMs = performance.now() - started;
    while (Date.now() < deadline && !(await this.workerServing(worker))) await sleep(2);
    // The new worker answers once its listeners accept, which can be before the master has told the old
    // workers to stop: until then they accept too and would serve new connections with the old config.
    // Their soft stop is started here (the master's own SIGUSR1 follows), so a change is live when answered.
    for (const old of oldWorkers) signal(old, this.terminateOld ? 'SIGTERM' : 'SIGUSR1');
    const servingMs = performance.now() - started;
    this.lastServingMs = servingMs;
    // A signal is handled when the worker next runs its loop: until then it still accepts. Each one is
    // watched until it has closed the listening sockets it shares with the new worker (HAProxy passes them
    // on at a reload), or, where /proc cannot tell, until it says it is stopping through the master CLI
    // (which answers only once back from its own re-exec: tens of ms later at 10,000 services).
    const stopDeadline = Math.min(deadline, Date.now() + 2000);
    const listeners = socketsOf(worker);
    const procUntil = Date.now() + 250; // then the master is asked, should a socket stay shared for another reason
    for (const old of oldWorkers) {
      while (Date.now() < stopDeadline && !(await this.stoppedAccepting(old, Date.now() < procUntil ? listeners : undefined))) await sleep(1);
    }
    const times = { forkedMs: Math.round(forkedMs), servingMs: Math.round(servingMs), oldStoppedMs: Math.round(performance.now() - started) };
    this.log.info(times, 'reload timing');
    return { ok: true, workerPid: worker, message: 'reloaded', durationMs: performance.now() - started };
  }

  /** Whether an old worker no longer accepts: it holds none of the new worker's sockets, or reports `Stopping: 1`, or is gone. */
  private async stoppedAccepting(pid: number, newWorkerSockets: ReadonlySet<string> | undefined): Promise<boolean> {
    if (!alive(pid)) return true;
    const held = newWorkerSockets && socketsOf(pid);
    if (held) return ![...held].some((s) => newWorkerSockets.has(s));
    try {
      const info = await cliCommand(this.paths.masterSocket, `@!${pid} show info`, { timeoutMs: 1000 });
      return !/^Pid: /m.test(info) || /^Stopping: 1$/m.test(info);
    } catch {
      return false; // the master re-executes itself and is briefly unreachable
    }
  }

  /** The pid of the worker that answers on the admin socket, if one does. */
  private async servingWorker(): Promise<number | undefined> {
    try {
      const text = await cliCommand(this.paths.adminSocket, 'show info', { timeoutMs: 1000 });
      const m = /^Pid: (\d+)$/m.exec(text);
      return m ? Number(m[1]) : undefined;
    } catch {
      return undefined;
    }
  }

  /** New lines the master wrote since the last read. */
  readNewLog(): string {
    try {
      const size = fileSize(this.paths.logFile);
      if (size < this.logOffset) this.logOffset = 0;
      if (size === this.logOffset) return '';
      const fd = fs.openSync(this.paths.logFile, 'r');
      const buf = Buffer.alloc(Math.min(size - this.logOffset, 1 << 20));
      fs.readSync(fd, buf, 0, buf.length, size - buf.length);
      fs.closeSync(fd);
      this.logOffset = size;
      return buf.toString('utf8');
    } catch {
      return '';
    }
  }

  private startWatch(): void {
    this.watch = setInterval(() => void this.check(), 250);
    this.watch.unref();
  }

  /** Brings back a lost master (restart) or a lost worker (reload). */
  private async check(): Promise<void> {
    if (this.stopping || this.recovering || this.masterPid === undefined) return;
    if (!alive(this.masterPid)) {
      await this.recover('master gone');
      return;
    }
    try {
      const info = await this.showProc(2000);
      if (info.workers.length === 0) await this.recover('no worker');
    } catch {
      // reload in progress or transient; the next tick looks again
    }
  }

  private async recover(what: string): Promise<void> {
    if (this.stopping || this.recovering) return;
    this.recovering = true;
    try {
      this.log.warn({ what }, 'HAProxy lost; bringing it back');
      this.hooks.beforeRecover?.();
      if (what === 'no worker' && this.masterPid !== undefined && alive(this.masterPid)) {
        const r = await this.reload();
        if (!r.ok) throw new FlowError('HAPROXY_RECOVER', r.message);
      } else {
        this.masterPid = undefined;
        await this.spawnMaster(30_000);
      }
      this.hooks.onRecovered?.(what);
    } catch (e) {
      this.log.error({ err: e }, 'could not bring HAProxy back');
    } finally {
      this.recovering = false;
    }
  }

  /** Stops HAProxy: soft stop, then hard stop after graceMs; resolves when nothing is left running. */
  async stop(graceMs = 5000): Promise<void> {
    this.stopping = true;
    if (this.watch) clearInterval(this.watch);
    const pid = this.masterPid ?? this.child?.pid;
    if (pid === undefined) return;
    const workers = await this.showProcWhenUp(2000).then((i) => i.workers.map((w) => w.pid)).catch(() => [] as number[]);
    signal(pid, 'SIGUSR1');
    if (!(await waitGone([pid, ...workers], graceMs))) {
      signal(pid, 'SIGTERM');
      if (!(await waitGone([pid, ...workers], 3000))) {
        for (const p of [pid, ...workers]) signal(p, 'SIGKILL');
        await waitGone([pid, ...workers], 2000);
      }
    }
    for (const f of [this.paths.masterSocket, this.paths.adminSocket, this.paths.pidFile]) fs.rmSync(f, { force: true });
    this.masterPid = undefined;
  }

  /** Forgets the process without stopping it (used by tests that simulate a crash). */
  detach(): void {
    this.stopping = true;
    if (this.watch) clearInterval(this.watch);
    this.child?.unref();
  }
}

/**
 * The master's `show proc`, waiting while the master cannot answer: after a
 * reload, 2.6's master forks the new worker and then re-executes itself once
 * more (wait mode), and its CLI is briefly unreachable.
 */
export async function masterShowProc(masterSocket: string, timeoutMs = 5000): Promise<ProcInfo> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return parseShowProc(await cliCommand(masterSocket, 'show proc', { timeoutMs: Math.max(100, Math.min(2000, deadline - Date.now())) }));
    } catch (e) {
      if (Date.now() >= deadline) throw e;
      await sleep(2);
    }
  }
}

export function parseShowProc(text: string): ProcInfo {
  const lines = text.split('\n');
  let masterPid = 0;
  let reloads = 0;
  let failed = 0;
  const workers: Array<{ pid: number; reloads: number }> = [];
  let section: 'master' | 'workers' | 'programs' = 'master';
  for (const line of lines) {
    if (line.startsWith('# workers')) section = 'workers';
    else if (line.startsWith('# programs')) section = 'programs';
    if (line.startsWith('#') || line.trim() === '') continue;
    const m = /^(\d+)\s+(master|worker)\s+(\d+)(?:\s+\[failed:\s*(\d+)\])?/.exec(line.trim());
    if (!m) continue;
    if (m[2] === 'master' && section === 'master') {
      masterPid = Number(m[1]);
      reloads = Number(m[3]);
      failed = Number(m[4] ?? 0);
    } else if (m[2] === 'worker' && section === 'workers') {
      workers.push({ pid: Number(m[1]), reloads: Number(m[3]) });
    }
  }
  if (masterPid === 0) throw new FlowError('SHOW_PROC', `unexpected "show proc" answer: ${text.slice(0, 200)}`);
  workers.sort((a, b) => a.reloads - b.reloads);
  return { masterPid, reloads, failed, workers };
}

function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}
