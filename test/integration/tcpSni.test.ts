import net from 'node:net';
import tls from 'node:tls';
import test from 'ava';
import { makeCert } from '../support/certs.js';
import { startFlowProxy, type FlowProxy } from '../support/flowProxy.js';
import { freePort } from '../support/ports.js';

/** A TCP server that answers each line with "<name>:<line>". */
async function echo(name: string, host = '127.0.0.1'): Promise<{ port: number; close(): void }> {
  const server = net.createServer((socket) => {
    socket.on('data', (d) => socket.write(`${name}:${d.toString()}`));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, host, () => resolve()));
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
}

/** A TLS server whose certificate names it; answers with its name. */
async function tlsServer(name: string): Promise<{ port: number; close(): void }> {
  const cert = makeCert([name]);
  const server = tls.createServer({ cert: cert.cert, key: cert.key }, (socket) => {
    socket.end(`tls:${name}`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
}

function talk(port: number, message: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => socket.write(message));
    let data = '';
    socket.on('data', (d) => {
      data += d.toString();
      socket.end();
    });
    socket.on('close', () => resolve(data));
    socket.on('error', reject);
    socket.setTimeout(5000, () => socket.destroy(new Error('timeout')));
  });
}

function tlsTalk(port: number, servername: string): Promise<{ body: string; cn?: string }> {
  return new Promise((resolve, reject) => {
    let cn: string | undefined;
    const socket = tls.connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false }, () => {
      cn = String(socket.getPeerCertificate().subject?.CN);
    });
    let body = '';
    socket.on('data', (d) => (body += d.toString()));
    socket.on('end', () => resolve({ body, ...(cn !== undefined && { cn }) }));
    socket.on('error', reject);
  });
}

let proxy: FlowProxy;
const closers: Array<() => void> = [];

test.before(async () => {
  proxy = await startFlowProxy();
});

test.after.always(async () => {
  await proxy?.cleanup();
  for (const c of closers) c();
});

test.serial('reqMode=tcp forwards raw TCP from srcPort to the service', async (t) => {
  const e = await echo('echo1');
  closers.push(e.close);
  const src = await freePort();
  const res = await proxy.api('reconfigure', { serviceName: 'tcp-echo', reqMode: 'tcp', srcPort: String(src), port: String(e.port), outboundHostname: '127.0.0.1' });
  t.is(res.status, 200, res.body);
  t.is(await talk(src, 'hello'), 'echo1:hello');
});

test.serial('tcp: clitcpka and timeoutClient apply to the frontend; an idle client is closed after timeoutClient', async (t) => {
  const e = await echo('echo2');
  closers.push(e.close);
  const src = await freePort();
  t.is((await proxy.api('reconfigure', { serviceName: 'tcp-idle', reqMode: 'tcp', srcPort: String(src), port: String(e.port), outboundHostname: '127.0.0.1', clitcpka: 'true', timeoutClient: '1' })).status, 200);
  const cfg = (await proxy.api('config')).body;
  const fe = cfg.slice(cfg.indexOf(`frontend tcpFE_${src}`));
  t.regex(fe.slice(0, fe.indexOf('\n\n')), /option clitcpka\n\s+timeout client 1s/);
  const started = Date.now();
  await new Promise<void>((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port: src });
    socket.on('close', () => resolve());
    socket.on('error', reject);
    socket.setTimeout(6000, () => socket.destroy(new Error('the proxy never closed the idle connection')));
  });
  const idle = Date.now() - started;
  t.true(idle >= 900 && idle < 4000, `closed after ${idle} ms`);
});

test.serial('tcp: serviceGroup balances one port over several services with balanceGroup and checkTcp', async (t) => {
  const e1 = await echo('g1');
  const e2 = await echo('g2');
  closers.push(e1.close, e2.close);
  const src = await freePort();
  for (const [name, e] of [['grp-one', e1], ['grp-two', e2]] as const) {
    const res = await proxy.api('reconfigure', { serviceName: name, reqMode: 'tcp', srcPort: String(src), port: String(e.port), outboundHostname: '127.0.0.1', serviceGroup: 'pool', balanceGroup: 'roundrobin', checkTcp: 'true' });
    t.is(res.status, 200, res.body);
  }
  const answers = new Set<string>();
  for (let i = 0; i < 6; i++) answers.add((await talk(src, 'x')).split(':')[0] as string);
  t.deepEqual([...answers].sort(), ['g1', 'g2']);
  const cfg = (await proxy.api('config')).body;
  t.regex(cfg, new RegExp(`listen tcpListen_pool_${src}[\\s\\S]*?balance roundrobin[\\s\\S]*?option tcp-check`));
});

test.serial('reqMode=sni passes TLS through by SNI; two services share the port, each reaches its own backend', async (t) => {
  const one = await tlsServer('one.sni.test');
  const two = await tlsServer('two.sni.test');
  closers.push(one.close, two.close);
  const src = await freePort();
  t.is((await proxy.api('reconfigure', { serviceName: 'sni-one', aclName: 'z-sni-one', reqMode: 'sni', srcPort: String(src), port: String(one.port), serviceDomain: 'one.sni.test', outboundHostname: '127.0.0.1' })).status, 200);
  const second = await proxy.api('reconfigure', { serviceName: 'sni-two', reqMode: 'sni', srcPort: String(src), port: String(two.port), servicePath: 'two.sni.test', pathType: 'req_ssl_sni -i', outboundHostname: '127.0.0.1' });
  t.is(second.status, 200, second.body);
  const a = await tlsTalk(src, 'one.sni.test');
  t.is(a.body, 'tls:one.sni.test');
  t.is(a.cn, 'one.sni.test', 'the backend terminates TLS: passthrough');
  t.is((await tlsTalk(src, 'two.sni.test')).body, 'tls:two.sni.test', 'routed by SNI even with aclName differing from serviceName');
});

test.serial('tcp with serviceDomain routes TLS connections by SNI on a shared port', async (t) => {
  const one = await tlsServer('a.tcp.test');
  const two = await tlsServer('b.tcp.test');
  closers.push(one.close, two.close);
  const src = await freePort();
  t.is((await proxy.api('reconfigure', { serviceName: 'tcpdom-a', reqMode: 'tcp', srcPort: String(src), port: String(one.port), serviceDomain: 'a.tcp.test', outboundHostname: '127.0.0.1' })).status, 200);
  t.is((await proxy.api('reconfigure', { serviceName: 'tcpdom-b', reqMode: 'tcp', srcPort: String(src), port: String(two.port), serviceDomain: 'b.tcp.test', outboundHostname: '127.0.0.1' })).status, 200);
  t.is((await tlsTalk(src, 'a.tcp.test')).body, 'tls:a.tcp.test');
  t.is((await tlsTalk(src, 'b.tcp.test')).body, 'tls:b.tcp.test');
});

test.serial('a tcp srcPort that the HTTP frontend already binds is a 400', async (t) => {
  const res = await proxy.api('reconfigure', { serviceName: 'clash', reqMode: 'tcp', srcPort: String(proxy.httpPort), port: '5432', outboundHostname: '127.0.0.1' });
  t.is(res.status, 400);
  t.regex(String(res.json.Message), /already bound/);
});

test.serial('a tcp srcPort another process holds is rejected with HAProxy\'s message; the rest keeps serving', async (t) => {
  const e = await echo('echo3');
  closers.push(e.close);
  const holder = net.createServer();
  await new Promise<void>((resolve) => holder.listen(0, '0.0.0.0', () => resolve()));
  closers.push(() => holder.close());
  const busy = (holder.address() as net.AddressInfo).port;
  const res = await proxy.api('reconfigure', { serviceName: 'busy', reqMode: 'tcp', srcPort: String(busy), port: String(e.port), outboundHostname: '127.0.0.1' });
  t.is(res.status, 400, res.body);
  t.regex(String(res.json.Message), /busy/);
  const src = await freePort();
  t.is((await proxy.api('reconfigure', { serviceName: 'tcp-after', reqMode: 'tcp', srcPort: String(src), port: String(e.port), outboundHostname: '127.0.0.1' })).status, 200);
  t.is(await talk(src, 'still'), 'echo3:still');
});
