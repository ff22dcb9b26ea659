/**
 * The demo receiver: a caller's endpoint that checks each callback's Qunfa-Signature with the
 * tenant's webhookSecret and prints it. GET /received lists what arrived (for tests and curious
 * humans); POST /fail-next?count=N makes it answer 500 N times, to watch the retries.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyCallbackSignature } from '../../lib/delivery/callerCallbacks';

export interface Received {
  id: string;
  type: string;
  status: string;
  taskId: string;
  verified: boolean;
  at: string;
  answered: number;
}

export async function startReceiver(
  port: number,
  secret: () => string | undefined,
  quiet = false,
): Promise<{ url: string; server: Server; received: Received[]; close: () => Promise<void> }> {
  const received: Received[] = [];
  let failNext = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://receiver');
      if (req.method === 'GET' && url.pathname === '/received') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(received));
        return;
      }
      if (req.method === 'POST' && url.pathname === '/fail-next') {
        failNext = Number(url.searchParams.get('count') ?? 1);
        res.writeHead(200).end();
        return;
      }
      const raw = Buffer.concat(chunks).toString('utf8');
      const s = secret();
      const verified = !!s && verifyCallbackSignature(s, req.headers['qunfa-signature'] as string | undefined, raw);
      let event: { id?: string; type?: string; task?: { id?: string; status?: string } } = {};
      try {
        event = JSON.parse(raw) as typeof event;
      } catch {
        /* counted as unverified below */
      }
      const answered = !verified ? 401 : failNext > 0 ? 500 : 200;
      if (verified && failNext > 0) failNext--;
      received.push({
        id: event.id ?? '',
        type: event.type ?? '',
        status: event.task?.status ?? '',
        taskId: event.task?.id ?? '',
        verified,
        at: new Date().toISOString(),
        answered,
      });
      if (!quiet)
        console.log(`[receiver] ${verified ? 'signature ok' : 'SIGNATURE BAD'} ${event.type} ${event.id} → task ${event.task?.status} (answered ${answered})`);
      res.writeHead(answered).end();
    });
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    received,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
