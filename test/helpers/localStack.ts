/**
 * `npm start` for a test: scripts/start.ts on free ports, with its own data directory, build
 * folder and demo key, stopped at the end. (test/e2e.local-stack.test.ts has its own copy, which
 * also restarts the stack.)
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
  output: string[];
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
  const child: ChildProcess = spawn(join(root, 'node_modules/.bin/tsx'), ['scripts/start.ts'], {
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
  child.stdout?.on('data', (d: Buffer) => output.push(d.toString()));
  child.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
  const deadline = Date.now() + 150_000;
  while (!output.join('').includes('is running on')) {
    if (child.exitCode !== null) throw new Error(`the stack exited:\n${output.join('')}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the stack did not start:\n${output.join('')}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    base: `http://127.0.0.1:${ports.api}`,
    ports,
    output,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
