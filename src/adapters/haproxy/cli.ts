import net from 'node:net';
import { FlowError } from '../../domain/errors.js';

export interface CliOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * Sends one command to a HAProxy CLI socket (worker or master) and returns
 * the whole answer. The request is written and then half-closed: the master
 * CLI only answers and closes once the client has sent FIN.
 */
export function cliCommand(socketPath: string, command: string, options: CliOptions = {}): Promise<string> {
  return exchange(socketPath, `${command}\n`, options);
}

/**
 * Sends many commands on one connection in interactive mode and returns one
 * answer per command, in order.
 */
export async function cliBatch(socketPath: string, commands: readonly string[], options: CliOptions = {}): Promise<string[]> {
  if (commands.length === 0) return [];
  for (const c of commands) {
    if (/[\r\n]/.test(c)) throw new FlowError('CLI_INJECTION', `refusing a runtime command with a line break: ${JSON.stringify(c)}`);
  }
  const raw = await exchange(socketPath, `prompt\n${commands.join('\n')}\n`, options);
  const parts = raw.split('\n> ');
  const answers = parts.slice(1, commands.length + 1).map((p) => p.trim());
  if (answers.length < commands.length) {
    throw new FlowError('CLI_SHORT_ANSWER', `HAProxy answered ${answers.length} of ${commands.length} runtime commands`);
  }
  return answers;
}

function exchange(socketPath: string, payload: string, options: CliOptions): Promise<string> {
  const timeoutMs = options.timeoutMs ?? 5000;
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (error?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      if (error) reject(error);
      else resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const timer = setTimeout(() => finish(new FlowError('CLI_TIMEOUT', `HAProxy CLI ${socketPath} did not answer within ${timeoutMs} ms`)), timeoutMs);
    const onAbort = () => finish(new FlowError('CLI_ABORTED', 'HAProxy CLI call aborted'));
    options.signal?.addEventListener('abort', onAbort);
    socket.on('connect', () => socket.end(payload));
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('end', () => finish());
    socket.on('error', (e: NodeJS.ErrnoException) => finish(new FlowError('CLI_UNREACHABLE', `HAProxy CLI ${socketPath}: ${e.code ?? e.message}`, { cause: e })));
  });
}

/** Answers of runtime commands that mean success. */
const OK_ANSWER = /^(|New server registered\.|Server deleted\.|IP changed from .*|no need to change the addr.*|Port changed from .*|.*changed from '.*' to '.*'.*)$/s;

export function isSuccessAnswer(answer: string): boolean {
  return OK_ANSWER.test(answer.trim());
}
