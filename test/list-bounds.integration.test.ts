/**
 * Issue 10 item 8: a filtered list does bounded work per request. A filter matching nothing used
 * to query once per task of the tenant within one request (`limit=1&status=X`); now each request
 * evaluates a bounded number of items in a bounded number of queries, and the opaque cursor
 * continues where the scan stopped, so a page may be short or empty with a nextCursor.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ulid } from '../lib/core/ids';
import { call, inSeconds, KEY_B, startTestEnv, type TestEnv } from './helpers/env';
import { fns, taskStore } from './helpers/testApp';
const createTask = fns.createTask;
const listTasks = fns.listTasks;

const TASKS = 260;
const MAX_QUERIES_PER_REQUEST = 3;

let env: TestEnv;
/** Ids of tenant b's tasks, newest first, and those among them that are CANCELLED. */
let all: string[];
let cancelled: string[];

const list = (query: Record<string, string>) => call(listTasks as never, { path: '/v1/tasks', query, key: KEY_B });

/** Follows nextCursor to the end, counting the DynamoDB queries each request made. */
async function pageThrough(query: Record<string, string>): Promise<{ ids: string[]; pages: number; queries: number[]; empty: number }> {
  const ids: string[] = [];
  const queries: number[] = [];
  let cursor: string | undefined;
  let empty = 0;
  do {
    const before = taskStore().stats.reads;
    const page = await list({ ...query, ...(cursor ? { cursor } : {}) });
    queries.push(taskStore().stats.reads - before);
    expect(page.status).toBe(200);
    if (page.body.items.length === 0) empty++;
    ids.push(...page.body.items.map((t: any) => t.id));
    cursor = page.body.nextCursor ?? undefined;
    expect(queries.length).toBeLessThan(TASKS); // a cursor that never ends would be a bug too
  } while (cursor);
  return { ids, pages: queries.length, queries, empty };
}

beforeAll(async () => {
  env = await startTestEnv();
  // One real task through the API, then many like it written straight to the store (fast).
  const res = await call(createTask as never, {
    method: 'POST',
    path: '/v1/tasks',
    key: KEY_B,
    body: {
      vendor: 'weiban',
      name: 'many',
      sendAt: inSeconds(3600),
      audience: { kind: 'groups', senders: ['zhangsan'], groupIds: ['wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA'] },
      content: { text: 'hi' },
    },
  });
  expect(res.status).toBe(201);
  const template = await taskStore().get('b', res.body.id);
  const base = Date.now() - 10 * 60_000;
  const made: string[] = [res.body.id];
  cancelled = [];
  for (let i = 0; i < TASKS - 1; i += 20) {
    await Promise.all(
      Array.from({ length: Math.min(20, TASKS - 1 - i) }, async (_, j) => {
        const n = i + j;
        const t = structuredClone(template!);
        t.id = `tsk_${ulid(base + n)}`;
        if (n % 37 === 5) {
          t.status = 'CANCELLED';
          t.steps[0]!.status = 'CANCELLED';
          cancelled.push(t.id);
        }
        expect(await taskStore().create(t)).not.toBe(false);
        made.push(t.id);
      }),
    );
  }
  all = made.sort().reverse();
  cancelled.sort().reverse();
}, 120_000);
afterAll(async () => {
  await env.close();
});

describe('a filtered list does bounded work per request', () => {
  it(`limit=1 with a filter matching none of ${TASKS} tasks: at most ${MAX_QUERIES_PER_REQUEST} queries per request, empty pages carry a cursor`, async () => {
    const before = taskStore().stats.reads;
    const first = await list({ limit: '1', status: 'FAILED' });
    const firstQueries = taskStore().stats.reads - before;
    expect(first.status).toBe(200);
    expect(first.body.items).toEqual([]);
    expect(firstQueries).toBeLessThanOrEqual(MAX_QUERIES_PER_REQUEST);
    expect(first.body.nextCursor).toEqual(expect.any(String)); // the scan stopped, not the data

    const walk = await pageThrough({ limit: '1', status: 'FAILED' });
    expect(walk.ids).toEqual([]);
    expect(Math.max(...walk.queries)).toBeLessThanOrEqual(MAX_QUERIES_PER_REQUEST);
    expect(walk.pages).toBeGreaterThan(1);
    expect(walk.pages).toBeLessThanOrEqual(Math.ceil(TASKS / 100) + 1); // at least 100 items evaluated per request
  });

  it('paging through with the cursor finds every match exactly once, newest first', async () => {
    expect(cancelled.length).toBeGreaterThanOrEqual(5);
    for (const limit of ['1', '2', '20']) {
      const walk = await pageThrough({ limit, status: 'CANCELLED' });
      expect(walk.ids, `limit ${limit}`).toEqual(cancelled);
      expect(Math.max(...walk.queries)).toBeLessThanOrEqual(MAX_QUERIES_PER_REQUEST);
    }
    const vendorWalk = await pageThrough({ limit: '7', vendor: 'weiban', status: 'CANCELLED' });
    expect(vendorWalk.ids).toEqual(cancelled);
  });

  it('an unfiltered list is unchanged: full pages, every task once, one query a page', async () => {
    const walk = await pageThrough({ limit: '50' });
    expect(walk.ids).toEqual(all);
    expect(walk.empty).toBeLessThanOrEqual(1); // the page after an exact fit may be empty
    expect(Math.max(...walk.queries)).toBe(1);
  });
});
