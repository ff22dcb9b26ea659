/**
 * `npm start` for a test or the bench: scripts/start.ts on free ports, with its own data
 * directory and demo key; restarted on the same ports and data (a restart loses nothing), and
 * stopped at the end. Quiet unless `env` says otherwise (QUNFA_QUIET: '0').
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './external';

const root = join(__dirname, '..', '..');

export interface LocalStack {
  base: string;
  ports: { api: number; lambda: number; dynamo: number; sandbox: number; receiver: number };
  /** Where the stack keeps its DynamoDB data and tenants file. */
  dataDir: string;
  /** Everything the stack printed, across restarts. */
  output: string[];
  /** Stops the process and starts it again on the same ports and data. */
  restart: () => Promise<void>;
  stop: () => Promise<void>;
}

export async function startLocalStack(key: string, env: Record<string, string> = {}): Promise<LocalStack> {
  const ports = {
    api: await freePort(),
    lambda: await freePort(),
    dynamo: await freePort(),
    sandbox: 20000 + Math.floor(Math.random() * 20000),
    receiver: await freePort(),
  };
  const dataDir = mkdtempSync(join(tmpdir(), 'qunfa-stack-'));
  const output: string[] = [];
  let child: ChildProcess | undefined;

  const launch = async () => {
    const from = output.length;
    const started = spawn(join(root, 'node_modules/.bin/tsx'), ['scripts/start.ts'], {
      cwd: root,
      env: {
        ...process.env,
        PORT: String(ports.api),
        LAMBDA_PORT: String(ports.lambda),
        QUNFA_DYNAMO_PORT: String(ports.dynamo),
        QUNFA_SANDBOX_PORT_BASE: String(ports.sandbox),
        QUNFA_RECEIVER_PORT: String(ports.receiver),
        QUNFA_DATA_DIR: dataDir,
        QUNFA_DEMO_API_KEY: key,
        QUNFA_TENANTS_FILE: '',
        WEIBAN_BASE_URL: '',
        WECOM_BASE_URL: '',
        QUNFA_QUIET: '1',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = started;
    started.stdout?.on('data', (d: Buffer) => output.push(d.toString()));
    started.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
    const deadline = Date.now() + 150_000;
    while (!output.slice(from).join('').includes('qunfa is running on')) {
      if (started.exitCode !== null) throw new Error(`the stack exited:\n${output.slice(from).join('')}`);
      if (Date.now() > deadline) {
        started.kill('SIGKILL');
        throw new Error(`the stack did not start:\n${output.slice(from).join('')}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const halt = async () => {
    const c = child;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
    if (c.exitCode === null) c.kill('SIGKILL');
  };
  const stop = async () => {
    await halt();
    rmSync(dataDir, { recursive: true, force: true });
  };

  try {
    await launch();
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    base: `http://127.0.0.1:${ports.api}`,
    ports,
    dataDir,
    output,
    restart: async () => {
      await halt();
      await launch();
    },
    stop,
  };
}
