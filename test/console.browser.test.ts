/**
 * The activity page in a real browser: headless Chromium (Debian's `chromium`) driven by
 * playwright-core over the local stack (scripts/start.ts on free ports). A person signs in, watches
 * a task reach COMPLETED, opens it, cancels another, is told why a finished task cannot be
 * cancelled or a Weiban task reminded, moves a step, and a wrong key is refused — with no CSP
 * violation, no script error, and the key never in a URL. Skipped (with the reason) where chromium
 * is absent; on CI its absence fails. `npm run screenshots` also writes docs/console-*.png.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VALID } from './helpers/bodies';
import { requireTool } from './helpers/external';
import { startLocalStack, type LocalStack } from './helpers/localStack';

const KEY = 'qf_console_demo_key_0123456789abcdef';
const SCREENSHOTS = process.env.QUNFA_SCREENSHOTS === '1';
const docs = join(__dirname, '..', 'docs');
const hasChromium = requireTool('chromium', 'the console in a real browser', 'apt-get install chromium');

let stack: LocalStack;
let browser: Browser;
let context: BrowserContext;
let page: Page;
/** Console errors and page errors, every request URL and every URL the page was at. */
const errors: string[] = [];
const requested: string[] = [];
const visited: string[] = [];

const api = async (path: string, init: RequestInit = {}) => {
  const res = await fetch(`${stack.base}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', ...(init.headers as Record<string, string>) },
  });
  return { status: res.status, body: await res.json() };
};
const inMinutes = (m: number) => new Date(Date.now() + m * 60_000).toISOString().replace('Z', '+00:00');
const create = async (over: Record<string, unknown>) => {
  const res = await api('/v1/tasks', {
    method: 'POST',
    body: JSON.stringify({
      vendor: 'weiban',
      name: '双十一提醒',
      audience: { kind: 'groups', senders: ['zhangsan'], groupIds: ['wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA', 'wrOgQhDgAAMYQiS5ol9G7gK9JVBBBB'] },
      content: { text: '今晚8点开抢', attachments: [{ type: 'link', title: '会场', url: 'https://shop.example.com/1111' }] },
      ...over,
    }),
  });
  expect(res.status).toBe(201);
  return res.body as { id: string; name: string };
};
/** Waits (up to 20 s) for the task to be in one of these states, as the API says. */
const until = async (id: string, ...statuses: string[]) => {
  for (let i = 0; i < 100 && !statuses.includes((await api(`/v1/tasks/${id}`)).body.status); i++) await new Promise((r) => setTimeout(r, 200));
};
/** What the page's alerts say (its empty live regions left out). */
const SANDBOXES = ['weiban', 'youmi', 'tanmarket', 'wshoto', 'wecom']; // scripts/lib/sandboxes.ts: base, base+1, …
const sandboxFault = async (vendor: string, fault: Record<string, unknown>) =>
  fetch(`http://127.0.0.1:${stack.ports.sandbox + SANDBOXES.indexOf(vendor)}/__sandbox/faults`, { method: 'POST', body: JSON.stringify(fault) });
const alertText = async () =>
  (await page.getByRole('alert').allInnerTexts())
    .map((x) => x.trim())
    .filter(Boolean)
    .join('\n');
const heading = () => page.getByRole('heading', { level: 1 });
const waitForText = async (selector: string, text: string | RegExp, timeout = 15_000) =>
  page.locator(selector).filter({ hasText: text }).first().waitFor({ timeout });

describe.runIf(hasChromium)('the console in headless Chromium, over the local stack', () => {
  beforeAll(async () => {
    stack = await startLocalStack(KEY, {
      QUNFA_ESBUILD_DIR: '.esbuild-console',
      QUNFA_SANDBOX_PROGRESS_MS: '1500',
      STATUS_POLL_INTERVALS: '1',
      CALLBACK_RETRY_SECONDS: '1',
    });
    const { chromium } = await import('playwright-core');
    const executablePath = spawnSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).stdout.trim();
    browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
    context = await browser.newContext({ locale: 'en-US', timezoneId: 'Asia/Shanghai', viewport: { width: 1280, height: 800 } });
    page = await context.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
    page.on('request', (r) => requested.push(r.url()));
    page.on('framenavigated', (f) => visited.push(f.url()));
  }, 200_000);

  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
  });

  it('serves the page with its security headers; a wrong key is refused and the page stays at sign-in', async () => {
    const res = await page.goto(`${stack.base}/console`);
    expect(res?.status()).toBe(200);
    expect(res?.headers()['content-security-policy']).toContain("connect-src 'self'");
    expect(await heading().innerText()).toBe('Sign in');
    await page.getByLabel('API key').fill('qf_not_a_key_of_anyone');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await waitForText('[role=alert]', 'This key was refused (401');
    expect(await heading().innerText()).toBe('Sign in');
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
  });

  let done: { id: string; name: string };
  let waiting: { id: string; name: string };
  let confirmed: { id: string; name: string };

  it('signs in (keyboard only) and watches a task created over the API reach COMPLETED in the list, without a reload', async () => {
    await page.getByLabel('API key').fill(KEY);
    await page.getByLabel('API key').press('Enter');
    await page.getByRole('heading', { name: 'Tasks', level: 1 }).waitFor();
    const navigations = visited.length;
    // The receiver refuses the first callback: the task page then shows a failed attempt and its retry.
    await fetch(`http://127.0.0.1:${stack.ports.receiver}/fail-next?count=1`, { method: 'POST' });
    done = await create({ name: '双十一提醒', callbackUrl: `http://127.0.0.1:${stack.ports.receiver}/hooks` });
    const row = `tr[data-id="${done.id}"]`;
    await page.locator(row).waitFor({ timeout: 15_000 });
    await page.locator(`${row} .badge[data-s=COMPLETED]`).waitFor({ timeout: 60_000 });
    expect(await page.locator(`${row} .badge`).innerText()).toBe('Completed');
    expect(await page.locator(`${row} th a`).innerText()).toBe('双十一提醒');
    expect(visited.length).toBe(navigations);
    expect(await page.locator('table.tasks caption').innerText()).toMatch(/^Tasks, newest first: \d+ shown of \d+ loaded$/);
  }, 90_000);

  it("opens the task: its steps, the vendor's id and answer, the timeline with causes, and each callback attempt", async () => {
    await page.getByRole('link', { name: done.name }).first().click();
    await page.getByRole('heading', { name: done.name, level: 1 }).waitFor();
    expect(page.url()).toContain(`#/tasks/${done.id}`);
    const steps = page.locator('section[aria-labelledby=steps-h]');
    await steps.getByRole('heading', { name: /Step 1/ }).waitFor();
    expect(await steps.locator('.badge').first().innerText()).toBe('Completed');
    const task = (await api(`/v1/tasks/${done.id}`)).body;
    expect(await steps.innerText()).toContain(task.steps[0].vendorTaskId);
    if (SCREENSHOTS) await page.screenshot({ path: join(docs, 'console-task.png') });
    await steps.getByText("The vendor's answer").click();
    expect(await steps.locator('pre.json').innerText()).toContain('"errcode"');
    const timeline = page.locator('ol.timeline li');
    expect(await timeline.count()).toBe(task.history.length);
    expect(await page.locator('ol.timeline').innerText()).toMatch(/accepted by weiban/);
    expect(await timeline.first().innerText()).toMatch(/\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \(UTC\+08:00\)/);
    // Four changes called back; the first attempt answered 500, then retried: five attempts in all.
    const callbacks = page.locator('section[aria-labelledby=callbacks-h]');
    await callbacks.locator('tbody tr').nth(4).waitFor({ timeout: 30_000 });
    expect(await callbacks.locator('tbody tr').first().innerText()).toContain('500');
    expect(await callbacks.locator('tbody').innerText()).toContain('200');
    // Weiban reports no per-recipient outcome: explained, not an error.
    await waitForText('section[aria-labelledby=recipients-h]', "does not report each recipient's outcome");
    expect(await alertText()).toBe('');
  }, 60_000);

  it('a finished task cannot be cancelled, nor a Weiban task reminded: each 409 is explained', async () => {
    await page.getByRole('button', { name: 'Cancel the task' }).click();
    const dialog = page.getByRole('dialog');
    // Escape answers no: nothing is sent.
    await dialog.waitFor();
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    await page.getByRole('button', { name: 'Cancel the task' }).click();
    await dialog.getByRole('button', { name: 'Yes, cancel it' }).click();
    await waitForText('[role=alert]', 'This task cannot be cancelled');
    expect(await alertText()).toMatch(/409 Conflict/);
    await page.getByRole('button', { name: 'Remind staff' }).click();
    await waitForText('[role=alert]', 'Nothing was reminded');
    expect(await alertText()).toMatch(/409 Conflict: weiban cannot remind staff/);
    expect((await api(`/v1/tasks/${done.id}`)).body.status).toBe('COMPLETED');
  });

  it('moves a waiting step (a bad time is refused, naming the field) and cancels the task from its page', async () => {
    const timed = await create({ name: '会员日预告', sendAt: inMinutes(60) });
    await page.goto(`${stack.base}/console#/tasks/${timed.id}`);
    await page.getByRole('heading', { name: '会员日预告', level: 1 }).waitFor();
    const when = page.getByLabel(/New send time, in your time zone \(UTC\+08:00\)/);
    await when.fill('2020-01-01T10:00');
    await page.getByRole('button', { name: 'Move', exact: true }).click();
    await waitForText('[role=alert]', 'The request was refused');
    expect(await alertText()).toMatch(/sendAt must not be in the past/);
    // Two days ahead at half past the hour, typed as Shanghai's wall clock.
    const at = Math.floor(Date.now() / 3_600_000 + 48) * 3_600_000 + 30 * 60_000;
    const wall = new Date(at + 8 * 3_600_000).toISOString().slice(0, 16);
    await when.fill(wall);
    await page.getByRole('button', { name: 'Move', exact: true }).click();
    await waitForText('[role=status]', `Step 1 now sends at ${wall.replace('T', ' ')}:00 (UTC+08:00)`);
    expect(Date.parse((await api(`/v1/tasks/${timed.id}`)).body.steps[0].sendAt)).toBe(at);

    await page.getByRole('button', { name: 'Cancel the task' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Yes, cancel it' }).click();
    await waitForText('[role=status]', 'The task was cancelled.');
    expect(await page.locator('section[aria-labelledby=summary-h] .badge').first().innerText()).toBe('Cancelled');
    expect((await api(`/v1/tasks/${timed.id}`)).body.status).toBe('CANCELLED');
  });

  it('shows every state in words, reads in Chinese, and at phone width (390 × 844) the list is usable without scrolling sideways', async () => {
    // A task the vendor refuses (FAILED), one whose answer is lost after the vendor took it (UNKNOWN),
    // one waiting for staff to confirm at WeCom, one at each other vendor, one for later.
    await sandboxFault('weiban', { match: 'customer_group_msg', mode: 'vendor-error', code: 20017, message: '群发名称重复', count: 1 });
    const failed = await create({ name: '老客回访' });
    await until(failed.id, 'FAILED');
    await sandboxFault('weiban', { match: 'customer_group_msg', mode: 'accept-then-reset', count: 1 });
    const unknown = await create({ name: '新品上架通知' });
    await until(unknown.id, 'UNKNOWN');
    await create({ vendor: 'tanmarket', name: '会员积分提醒', ...VALID.tanmarket });
    await create({ vendor: 'youmi', name: '直播间福利', ...VALID.youmi });
    // At WeCom: lazy-wang never confirms the send (it can be reminded); zhangsan does (its recipients' outcomes are reported).
    waiting = await create({
      vendor: 'wecom',
      name: '企微客户关怀',
      ...VALID.wecom,
      audience: { kind: 'customers', senders: ['lazy-wang'], customerIds: ['wm-a', 'wm-b'] },
    });
    confirmed = await create({
      vendor: 'wecom',
      name: '会员日',
      ...VALID.wecom,
      audience: { kind: 'customers', senders: ['zhangsan'], customerIds: ['wm-a', 'wm-notfriend-b', 'wm-overquota-c'] },
    });
    await create({ name: '周末直播预约', sendAt: inMinutes(180) });

    await page.getByRole('link', { name: 'All tasks' }).click();
    await page.getByRole('button', { name: '中文' }).click();
    await page.getByRole('heading', { name: '任务', level: 1 }).waitFor();
    await page.locator(`tr[data-id="${done.id}"] .badge`).filter({ hasText: '已完成' }).waitFor();
    await page.locator(`tr[data-id="${failed.id}"] .badge`).filter({ hasText: '失败' }).waitFor();
    await page.locator(`tr[data-id="${unknown.id}"] .badge`).filter({ hasText: '状态未知' }).waitFor();
    expect(await page.evaluate(() => document.documentElement.lang)).toBe('zh-CN');
    expect(await page.locator('table.tasks thead').innerText()).toContain('服务商');
    if (SCREENSHOTS) await page.screenshot({ path: join(docs, 'console-list.png') });

    await page.setViewportSize({ width: 390, height: 844 });
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    const link = page.locator(`tr[data-id="${done.id}"] th a`);
    const box = await link.boundingBox();
    expect(box && box.x >= 0 && box.x + box.width <= 390).toBe(true);
    await page.getByLabel('状态').selectOption('CANCELLED');
    await link.waitFor({ state: 'detached' });
    expect(await page.locator('tr[data-id] .badge[data-s=CANCELLED]').count()).toBeGreaterThan(0);
    expect(await page.locator('tr[data-id] .badge:not([data-s=CANCELLED])').count()).toBe(0);
    await page.getByRole('button', { name: 'English' }).click();
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  it("WeCom: reminds the staff who have not confirmed (noted in the timeline), and lists each recipient's outcome, filtered by status", async () => {
    await until(waiting.id, 'SUBMITTED', 'RUNNING');
    await page.goto(`${stack.base}/console#/tasks/${waiting.id}`);
    await page.getByRole('heading', { name: waiting.name, level: 1 }).waitFor();
    await page.getByRole('button', { name: 'Remind staff' }).click();
    await waitForText('[role=status]', 'The vendor was asked to remind the staff');
    await waitForText('ol.timeline', 'wecom reminded the staff of 1 send not yet confirmed');
    expect(await alertText()).toBe('');

    await until(confirmed.id, 'COMPLETED');
    await page.goto(`${stack.base}/console#/tasks/${confirmed.id}`);
    await page.getByRole('heading', { name: confirmed.name, level: 1 }).waitFor();
    const recipients = page.locator('section[aria-labelledby=recipients-h]');
    await recipients.locator('tbody tr').nth(2).waitFor({ timeout: 15_000 });
    expect(await recipients.locator('tbody').innerText()).toMatch(
      /wm-a[\s\S]*Sent[\s\S]*wm-notfriend-b[\s\S]*No longer a contact[\s\S]*wm-overquota-c[\s\S]*Monthly limit reached/,
    );
    await page.getByLabel('Recipient status').selectOption('notFriend');
    await recipients.locator('tbody tr').nth(1).waitFor({ state: 'detached' });
    expect(await recipients.locator('tbody').innerText()).toContain('wm-notfriend-b');
    expect(await page.locator('section[aria-labelledby=figures-h]').innerText()).toMatch(/No longer a contact\s+1/);
  }, 60_000);

  it('a key refused mid-session returns to sign-in with the reason; sign-out forgets the key', async () => {
    await page.evaluate(() => sessionStorage.setItem('qunfa.console.apiKey', 'qf_revoked_key'));
    await page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor({ timeout: 15_000 });
    expect(await alertText()).toContain('The API refused your key (401)');
    // Signed in again, the person is back on the page they were reading.
    await page.getByLabel('API key').fill(KEY);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await heading().filter({ hasText: confirmed.name }).waitFor();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await heading().filter({ hasText: 'Sign in' }).waitFor();
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
  }, 30_000);

  it('loaded with no CSP violation or script error, and the key was never in a URL or in localStorage', async () => {
    // The only errors are the browser's notes on the answers the steps above asked for (401, 409, 400).
    const unexpected = errors.filter((e) => !/^Failed to load resource: the server responded with a status of (400|401|409)\b/.test(e));
    expect(unexpected).toEqual([]);
    expect(errors.some((e) => /Content Security Policy|Refused to/i.test(e))).toBe(false);
    expect(requested.length).toBeGreaterThan(10);
    for (const url of [...requested, ...visited, page.url()]) expect(url).not.toContain(KEY);
    expect(await page.evaluate(() => JSON.stringify({ ...localStorage }))).not.toContain(KEY);
  });
});
