/**
 * Lambda's asynchronous invocation as the local stack runs it: an invoke is accepted at once
 * (202), queued per function, and run at most `reservedConcurrency` at a time — what Lambda does
 * with a function's async events (it queues what its concurrency cannot take yet). Without it a
 * burst of due steps would start every dispatcher at once, which Lambda never does.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export class AsyncInvokeQueue {
  private readonly queues = new Map<string, unknown[]>();
  private readonly running = new Map<string, number>();

  constructor(
    private readonly run: (fn: string, payload: unknown) => Promise<void>,
    private readonly limits: Record<string, number>,
    private readonly onError: (fn: string, err: unknown) => void = () => undefined,
  ) {}

  enqueue(fn: string, payload: unknown): void {
    const q = this.queues.get(fn) ?? [];
    q.push(payload);
    this.queues.set(fn, q);
    this.pump(fn);
  }

  /** Events waiting (not yet started), per function. */
  waiting(fn: string): number {
    return this.queues.get(fn)?.length ?? 0;
  }

  private pump(fn: string): void {
    const limit = this.limits[fn] ?? Number.POSITIVE_INFINITY;
    const q = this.queues.get(fn) ?? [];
    while ((this.running.get(fn) ?? 0) < limit && q.length) {
      const payload = q.shift();
      this.running.set(fn, (this.running.get(fn) ?? 0) + 1);
      void this.run(fn, payload)
        .catch((err: unknown) => this.onError(fn, err))
        .finally(() => {
          this.running.set(fn, (this.running.get(fn) ?? 1) - 1);
          this.pump(fn);
        });
    }
  }
}

/** Each function's `reservedConcurrency` in serverless.yml (functions without one are unbounded). */
export function reservedConcurrency(file = resolve(__dirname, '../../serverless.yml')): Record<string, number> {
  const text = readFileSync(file, 'utf8');
  const functions = text.slice(text.indexOf('\nfunctions:\n'), text.indexOf('\nresources:'));
  const out: Record<string, number> = {};
  for (const m of functions.matchAll(/^ {2}(\w+):\n((?: {4}.*\n|\s*\n)*)/gm)) {
    const n = /^ {4}reservedConcurrency: (\d+)/m.exec(m[2] as string)?.[1];
    if (n) out[m[1] as string] = Number(n);
  }
  return out;
}
