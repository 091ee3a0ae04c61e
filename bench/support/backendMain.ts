import { startFastBackend } from './backend.js';

/** `node backendMain.js <name> [port]`: a backend process for load benchmarks; prints "listening <port>". */
const name = process.argv[2] ?? 'backend';
const backend = await startFastBackend(name, Number(process.argv[3] ?? 0));
process.stdout.write(`listening ${backend.port}\n`);
const stop = () => void backend.close().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
// The parent holds our stdin open; when it goes away (even killed), so do we.
process.stdin.on('end', stop);
process.stdin.on('error', stop);
process.stdin.resume();
