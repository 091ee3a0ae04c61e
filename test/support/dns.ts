import dgram from 'node:dgram';

/**
 * A tiny authoritative DNS server on 127.0.0.1 for HAProxy's resolvers:
 * answers A queries from a table that tests can change, NXDOMAIN otherwise,
 * and an empty answer for other types (AAAA).
 */
export interface DnsServer {
  port: number;
  records: Map<string, string[]>;
  queries: number;
  close(): Promise<void>;
}

export async function startDns(records: Record<string, string[]> = {}): Promise<DnsServer> {
  const socket = dgram.createSocket('udp4');
  const server: DnsServer = {
    port: 0,
    records: new Map(Object.entries(records).map(([k, v]) => [k.toLowerCase(), v])),
    queries: 0,
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
  socket.on('message', (msg, rinfo) => {
    server.queries++;
    const answer = respond(msg, server.records);
    if (answer) socket.send(answer, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  server.port = socket.address().port;
  return server;
}

function respond(query: Buffer, records: Map<string, string[]>): Buffer | undefined {
  if (query.length < 12) return undefined;
  const labels: string[] = [];
  let offset = 12;
  while (offset < query.length) {
    const len = query[offset] as number;
    if (len === 0) break;
    labels.push(query.subarray(offset + 1, offset + 1 + len).toString('ascii'));
    offset += len + 1;
  }
  const questionEnd = offset + 5;
  const qtype = query.readUInt16BE(offset + 1);
  const name = labels.join('.').toLowerCase();
  const addresses = records.get(name);
  const header = Buffer.alloc(12);
  query.copy(header, 0, 0, 2);
  const answers = addresses && qtype === 1 ? addresses : [];
  const rcode = addresses ? 0 : 3;
  header.writeUInt16BE(0x8400 | 0x0100 | rcode, 2); // response, authoritative, recursion desired copied
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answers.length, 6);
  const parts = [header, query.subarray(12, questionEnd)];
  for (const ip of answers) {
    const rr = Buffer.alloc(16);
    rr.writeUInt16BE(0xc00c, 0); // pointer to the question name
    rr.writeUInt16BE(1, 2);
    rr.writeUInt16BE(1, 4);
    rr.writeUInt32BE(1, 6); // TTL 1 s
    rr.writeUInt16BE(4, 10);
    ip.split('.').forEach((octet, i) => rr.writeUInt8(Number(octet), 12 + i));
    parts.push(rr);
  }
  return Buffer.concat(parts);
}
