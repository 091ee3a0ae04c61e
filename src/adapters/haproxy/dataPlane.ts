// Long on purpose: the one adapter behind the DataPlane port; its files, runtime commands, deferred deletes and reloads share one turn on the admin socket, so they stay together.
import fs from 'node:fs';
import path from 'node:path';
import { formatAddress as address } from '../../domain/values.js';
import { linkOrCopy, writeFileAtomic } from '../fsAtomic.js';
import { checkConfig, type CheckResult } from './check.js';
import { cliBatch, cliCommand, isSuccessAnswer } from './cli.js';
import { carriedPieces, EMPTY_STATE, type ConfiguredServers } from './serverState.js';
import { ServerStateReads } from './stateReads.js';
import { HaproxyProcess, type RecoveryHooks, type ReloadResult } from './process.js';
import type { RuntimeOp } from '../../core/apply/runtimeDiff.js';
import { MAP_DIR_TOKEN, type ConfigFiles, type DataPlane, type RuntimeResult } from '../../core/ports.js';
import { mapFileName } from '../../render/model.js';

export interface DataPlaneOptions {
  haproxyBin: string;
  /** Directory for the generated config, maps and runtime files. */
  dir: string;
  log: { debug(o: object, m?: string): void; info(o: object, m?: string): void; warn(o: object, m?: string): void; error(o: object, m?: string): void };
  /** TERMINATE_ON_RELOAD: stop old workers at once instead of letting them finish. */
  terminateOnReload?: boolean;
  /** Resolves names of servers added at run time when the engine could not (see NameResolver). */
  names: { resolveAll(hosts: Iterable<string>): Promise<ReadonlyMap<string, string | undefined>> };
  /** What the process supervisor tells the composition root when it brings HAProxy back (see RecoveryHooks). */
  recovery?: RecoveryHooks;
}

/** File layout under DATA_DIR/haproxy, shared by the renderer (paths in the config) and the process. */
export function haproxyLayout(dir: string) {
  return {
    config: path.join(dir, 'haproxy.cfg'),
    mapDir: path.join(dir, 'maps'),
    candidateConfig: path.join(dir, 'candidate', 'haproxy.cfg'),
    candidateMapDir: path.join(dir, 'candidate', 'maps'),
    previousConfig: path.join(dir, 'previous', 'haproxy.cfg'),
    previousMapDir: path.join(dir, 'previous', 'maps'),
    runDir: path.join(dir, 'run'),
    adminSocket: path.join(dir, 'run', 'admin.sock'),
    masterSocket: path.join(dir, 'run', 'master.sock'),
    pidFile: path.join(dir, 'run', 'haproxy.pid'),
    serverState: path.join(dir, 'run', 'server-state'),
    logFile: path.join(dir, 'run', 'haproxy.log'),
    crtList: path.join(dir, 'crt-list.txt'),
  };
}

/** What of HAProxy's state dump the next worker loads for these servers, in pieces; none when the dump is not one (nothing is written). */
function carriedState(state: string, servers: ConfiguredServers): string[] {
  return state.startsWith('1') ? carriedPieces(state, servers) : [];
}

/** The real HAProxy: files on disk, `haproxy -c`, master-worker reloads and the runtime API. */
export class HaproxyDataPlane implements DataPlane {
  readonly files: ReturnType<typeof haproxyLayout>;
  readonly process: HaproxyProcess;

  /** Servers added at run time need an IP (HAProxy never resolves names of dynamic servers). */
  private async resolve(host: string): Promise<string | undefined> {
    return (await this.options.names.resolveAll([host])).get(host);
  }

  private readonly readServerState = () => cliCommand(this.files.adminSocket, 'show servers state', { timeoutMs: 5000 });
  private readonly stateReads = new ServerStateReads<string[]>(this.readServerState);
  /** The derived files written last, with what they held then (see writeUnlessThere). */
  private readonly written = new Map<string, { content: string; ino: number; size: number; mtimeMs: number }>();

  constructor(private readonly options: DataPlaneOptions) {
    this.files = haproxyLayout(options.dir);
    for (const d of [options.dir, this.files.mapDir, this.files.candidateMapDir, this.files.previousMapDir, this.files.runDir]) {
      fs.mkdirSync(d, { recursive: true, mode: 0o700 });
    }
    this.process = new HaproxyProcess(
      {
        bin: options.haproxyBin,
        config: this.files.config,
        pidFile: this.files.pidFile,
        masterSocket: this.files.masterSocket,
        adminSocket: this.files.adminSocket,
        logFile: this.files.logFile,
      },
      options.log,
      options.terminateOnReload === true,
      options.recovery,
    );
  }

  /** No pid file of an earlier run: start launches a new HAProxy. */
  startsFresh(): boolean {
    return !fs.existsSync(this.files.pidFile);
  }

  /** Writes the first config and starts (or adopts) HAProxy with it. */
  async start(files: ConfigFiles): Promise<'started' | 'adopted'> {
    if (this.startsFresh()) this.writeLive(files);
    // A first start has no saved server state yet: an empty one spares HAProxy's "Can't open" warning.
    if (!fs.existsSync(this.files.serverState)) writeFileAtomic(this.files.serverState, EMPTY_STATE, 0o600, false);
    const how = await this.process.start();
    return how;
  }

  async check(files: ConfigFiles): Promise<CheckResult> {
    this.writeSet(files, this.files.candidateConfig, this.files.candidateMapDir);
    return checkConfig(this.options.haproxyBin, this.files.candidateConfig);
  }

  /** Makes files live with a reload; on failure the previous files are restored. */
  commit(files: ConfigFiles): Promise<ReloadResult> {
    return this.inTurn(() => this.commitNow(files));
  }

  /** A reload is coming (the apply side makes, renders and may check its config): the server state is read meanwhile (see ServerStateReads). */
  prepareCommit = (): void => this.stateReads.readAhead();

  /** The state read ahead is filtered for these files as soon as it arrives, while they are checked. */
  prepareFiles = (files: ConfigFiles): void => this.stateReads.deriveAhead(files, (state) => carriedState(state, files.servers()));

  private async commitNow(files: ConfigFiles): Promise<ReloadResult> {
    const t0 = performance.now();
    // The files are written while the server state (read ahead) may still be arriving.
    const { state, derived } = this.stateReads.currentFor(files);
    state.catch(() => undefined); // read (and its failure logged) below, unless the files cannot be written
    this.copySet(this.files.config, this.files.mapDir, this.files.previousConfig, this.files.previousMapDir);
    const previousServers = this.liveServers;
    try {
      this.writeLive(files);
    } catch (e) {
      // A half-written set must not be what a later reload reads: put the previous files back.
      try {
        this.copySet(this.files.previousConfig, this.files.previousMapDir, this.files.config, this.files.mapDir);
      } catch {
        // the disk refuses writes; the running HAProxy still has the previous config in memory
      }
      throw e;
    }
    const t1 = performance.now();
    await this.saveServerState(files.servers, state, derived);
    const t2 = performance.now();
    const result = await this.process.reload();
    this.options.log.debug({ filesMs: Math.round(t1 - t0), stateMs: Math.round(t2 - t1), reloadMs: Math.round(performance.now() - t2) }, 'commit phases');
    if (result.ok) this.lingering.clear();
    if (!result.ok) {
      this.copySet(this.files.previousConfig, this.files.previousMapDir, this.files.config, this.files.mapDir);
      this.liveServers = previousServers;
    }
    return result;
  }

  /** Reloads the files already live (the /reload endpoint without recreate). */
  reloadOnly(): Promise<ReloadResult> {
    return this.inTurn(() => this.saveServerState(this.liveServers).then(() => this.process.reload()));
  }

  /** The servers of the files last written live: what a reload of those files renders. */
  private liveServers: ConfigFiles['servers'] = () => new Map();

  writeLive(files: ConfigFiles): void {
    this.writeSet(files, this.files.config, this.files.mapDir);
    this.liveServers = files.servers;
  }

  /** HAProxy's statistics as CSV (`show stat`). */
  stats(): Promise<string> {
    return cliCommand(this.files.adminSocket, 'show stat', { timeoutMs: 5000 });
  }

  liveConfigText(): string {
    return fs.readFileSync(this.files.config, 'utf8');
  }

  /** The live route maps by file name: where the routes are (haproxy.cfg only points at them). */
  liveMaps(): Array<{ file: string; text: string }> {
    return fs.readdirSync(this.files.mapDir).filter((f) => f.endsWith('.map')).sort().map((file) => ({ file, text: fs.readFileSync(path.join(this.files.mapDir, file), 'utf8') }));
  }

  /** Runtime changes, reloads and the retries of deferred deletes never overlap: a server brought back
   *  from maintenance must not be deleted by a retry that was already on its way. */
  private cliTurn: Promise<unknown> = Promise.resolve();

  private inTurn<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.cliTurn.then(fn, fn);
    this.cliTurn = run.catch(() => undefined);
    return run;
  }

  runtime(ops: readonly RuntimeOp[]): Promise<RuntimeResult> {
    return this.inTurn(() => this.runtimeNow(ops));
  }

  private async runtimeNow(ops: readonly RuntimeOp[]): Promise<RuntimeResult> {
    const commands: string[] = [];
    for (const op of ops) {
      switch (op.kind) {
        case 'setMap':
          commands.push(`${op.exists ? 'set' : 'add'} map ${path.join(this.files.mapDir, mapFileName(op.lookup))} ${op.key} ${op.value}`);
          break;
        case 'delMap':
          commands.push(`del map ${path.join(this.files.mapDir, mapFileName(op.lookup))} ${op.key}`);
          break;
        case 'addServer': {
          const ip = op.ip ?? (await this.resolve(op.host));
          if (ip === undefined) return { ok: false, message: `cannot resolve ${op.host} for ${op.backend}/${op.server}` };
          const id = `${op.backend}/${op.server}`;
          if (this.lingering.delete(id)) {
            // The same instance came back while its delete still waited: it is there, in maintenance.
            commands.push(`set server ${id} addr ${ip} port ${op.port}`);
            commands.push(`set server ${id} state ready`);
          } else {
            commands.push(`add server ${id} ${address(ip, op.port)}${op.options.replace(/ resolvers \S+/, '')}`);
            commands.push(`enable server ${id}`);
          }
          if (op.check) commands.push(`enable health ${op.backend}/${op.server}`);
          break;
        }
        case 'moveServer': {
          const ip = op.ip ?? (await this.resolve(op.host));
          if (ip === undefined) return { ok: false, message: `cannot resolve ${op.host} for ${op.backend}/${op.server}` };
          commands.push(`set server ${op.backend}/${op.server} addr ${ip} port ${op.port}`);
          break;
        }
        case 'delServer':
          // Maintenance first: no new request goes there; requests in flight finish. The delete may
          // have to wait for them (and for idle pooled connections), so a refusal is retried later.
          commands.push(`set server ${op.backend}/${op.server} state maint`);
          commands.push(`del server ${op.backend}/${op.server}`);
          break;
      }
    }
    if (commands.length === 0) return { ok: true, message: 'nothing to change', commands: 0 };
    this.stateReads.commandSent();
    const answers = await cliBatch(this.files.adminSocket, commands, { timeoutMs: 30_000 });
    const failures = answers.map((a, i) => [commands[i] as string, a] as const).filter(([command, a]) => {
      if (isSuccessAnswer(a)) return false;
      if (/^del server /.test(command) && /connection|still|in use/i.test(a)) {
        this.deferDelete(command.slice('del server '.length));
        return false;
      }
      return true;
    });
    if (failures.length > 0) {
      return { ok: false, message: failures.slice(0, 3).map(([c, a]) => `${c}: ${a}`).join('; '), commands: commands.length };
    }
    return { ok: true, message: 'applied', commands: commands.length };
  }

  /** Servers in maintenance whose delete waits for their last connections: backend/server -> attempts. */
  private readonly lingering = new Map<string, number>();
  private lingerTimer: NodeJS.Timeout | undefined;

  private deferDelete(server: string): void {
    this.lingering.set(server, 0);
    this.lingerTimer ??= setInterval(() => void this.inTurn(() => this.retryDeletes()), 1000);
    this.lingerTimer.unref();
  }

  /** Retries deferred deletes; a reload drops them anyway, since the new worker never had them. */
  private async retryDeletes(): Promise<void> {
    const servers = [...this.lingering.keys()];
    if (servers.length === 0) {
      clearInterval(this.lingerTimer);
      this.lingerTimer = undefined;
      return;
    }
    let answers: string[];
    this.stateReads.commandSent();
    try {
      answers = await cliBatch(this.files.adminSocket, servers.map((s) => `del server ${s}`), { timeoutMs: 5000 });
    } catch {
      return;
    }
    servers.forEach((server, i) => {
      const answer = answers[i] ?? '';
      const attempts = (this.lingering.get(server) ?? 0) + 1;
      // Deleted, or gone already (a reload), or given up after a minute: it stays in maintenance, unused, until the next reload.
      if (isSuccessAnswer(answer) || /No such|not found/i.test(answer) || attempts >= 60) this.lingering.delete(server);
      else this.lingering.set(server, attempts);
    });
  }

  /**
   * Saves what the next worker may restore of the running servers' state:
   * never the maintenance, drain or weight the runtime path set (see
   * carriedPieces), so a server the new config renders serves.
   */
  private async saveServerState(servers: () => ConfiguredServers, read: Promise<string> = this.readServerState(), prepared?: Promise<string[]>): Promise<void> {
    try {
      const t0 = performance.now();
      const state = await read;
      this.options.log.debug({ stateWaitMs: Math.round(performance.now() - t0) }, 'server state read');
      // Prepared from this same read (prepareFiles), unless that read failed and the state was read again.
      const carried = (prepared && (await prepared.catch(() => undefined))) ?? carriedState(state, servers());
      if (carried.length > 0) writeFileAtomic(this.files.serverState, carried, 0o600, false);
    } catch (e) {
      this.options.log.warn({ err: e }, 'could not save server state before reload');
    }
  }

  private writeSet(files: ConfigFiles, config: string, mapDir: string): void {
    // Derived files, rendered again from the stored state at every start: atomic, not fsynced.
    for (const [name, content] of Object.entries(files.maps)) this.writeUnlessThere(path.join(mapDir, name), content);
    // In pieces, the map directory between them: no second string of the whole text on V8's heap (1 MB at 10,000 services).
    const pieces = files.config.split(MAP_DIR_TOKEN).flatMap((piece, i) => (i === 0 ? [piece] : [mapDir, piece]));
    writeFileAtomic(config, pieces, 0o600, false);
  }

  /**
   * Writes a derived file unless it holds this content already: the same file (inode, size and
   * time) as written last with it. Most map files are the same from one check or reload to the next.
   */
  private writeUnlessThere(file: string, content: string): void {
    const last = this.written.get(file);
    if (last !== undefined && last.content === content) {
      const now = fs.statSync(file, { throwIfNoEntry: false });
      if (now !== undefined && now.ino === last.ino && now.size === last.size && now.mtimeMs === last.mtimeMs) return;
    }
    this.written.delete(file);
    writeFileAtomic(file, content, 0o600, false);
    const stat = fs.statSync(file);
    this.written.set(file, { content, ino: stat.ino, size: stat.size, mtimeMs: stat.mtimeMs });
  }

  /** Keeps (or puts back) a set of files as links (see linkOrCopy); the config names the live maps: it is only ever put back. */
  private copySet(fromConfig: string, fromMaps: string, toConfig: string, toMaps: string): void {
    if (!fs.existsSync(fromConfig)) return;
    for (const name of fs.readdirSync(fromMaps)) {
      if (name.endsWith('.map')) linkOrCopy(path.join(fromMaps, name), path.join(toMaps, name));
    }
    linkOrCopy(fromConfig, toConfig);
  }

  stop(graceMs?: number): Promise<void> {
    if (this.lingerTimer) clearInterval(this.lingerTimer);
    return this.process.stop(graceMs);
  }
}
