/**
 * Tools that are on the developers' machines and CI but not on a user's fresh machine
 * (moto_server, cfn-lint, chromium). Where absent, their tests are skipped with the reason printed —
 * except on CI (CI=true), where an absent tool is a failure, so CI always runs them.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

export function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** True when the tests needing `cmd` should run; prints why not otherwise (and how to install it), and throws on CI. */
export function requireTool(cmd: string, what: string, install = `pip install ${cmd === 'moto_server' ? '"moto[server]"' : cmd}`): boolean {
  if (hasCommand(cmd)) return true;
  if (process.env.CI === 'true') throw new Error(`${cmd} is required on CI for ${what}, and it is not installed`);
  console.warn(`SKIPPED ${what}: ${cmd} is not installed here (${install}); CI runs it`);
  return false;
}

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as { port: number };
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export async function startMoto(): Promise<{ url: string; stop: () => void }> {
  const port = await freePort();
  const child: ChildProcess = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/moto-api/`)).ok) break;
    } catch {
      if (Date.now() > deadline) throw new Error('moto_server did not start');
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { url, stop: () => child.kill() };
}
