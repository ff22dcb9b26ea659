import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fieldErrors } from '../lib/core/errors';
import { taskSchemas } from '../lib/core/task';
// What POST /v1/tasks validates: the core's canonical task with `vendor` held to the registry.
import { requestSchemas } from '../lib/tasks/requests';

const inAnHour = () => new Date(Date.now() + 3600_000).toISOString();
const valid = () => ({
  vendor: 'weiban',
  name: '双十一提醒',
  audience: { kind: 'groups', senders: ['s1'], groupIds: ['g1'] },
  content: { text: '今晚8点', attachments: [{ type: 'image', url: 'https://cdn.example.com/a.png' }] },
  sendAt: inAnHour(),
});

function paths(body: unknown): string[] {
  const r = requestSchemas().CreateTaskRequest.safeParse(body);
  return r.success ? [] : fieldErrors(r.error).map((e) => e.path);
}

describe('canonical task schema', () => {
  it('accepts a valid shorthand task and a valid SOP', () => {
    expect(paths(valid())).toEqual([]);
    const { content, sendAt: _s, ...rest } = valid();
    const sop = {
      ...rest,
      steps: [
        { sendAt: inAnHour(), content },
        { sendAt: new Date(Date.now() + 7200_000).toISOString().replace('Z', '+00:00'), content },
      ],
    };
    expect(paths(sop)).toEqual([]);
  });

  it.each([
    ['unknown vendor', { vendor: 'wechat' }, 'vendor'],
    ['missing name', { name: undefined }, 'name'],
    ['blank name', { name: '   ' }, 'name'],
    ['name over 64', { name: 'x'.repeat(65) }, 'name'],
    ['empty content', { content: {} }, 'content'],
    ['whitespace-only text, no attachments', { content: { text: '  ' } }, 'content'],
    ['more than 9 attachments', { content: { attachments: Array(10).fill({ type: 'image', url: 'https://x.example/a.png' }) } }, 'content.attachments'],
    [
      'non-http URL',
      {
        content: {
          attachments: [
            { type: 'image', url: 'https://ok.example/a' },
            { type: 'link', title: 't', url: 'ftp://x.example/a' },
          ],
        },
      },
      'content.attachments.1.url',
    ],
    ['javascript: URL', { content: { attachments: [{ type: 'video', url: 'javascript:alert(1)' }] } }, 'content.attachments.0.url'],
    ['text over 4000 bytes (1334 CJK chars)', { content: { text: '字'.repeat(1334) } }, 'content.text'],
    ['sendAt without offset', { sendAt: '2026-12-01T10:00:00' }, 'sendAt'],
    ['sendAt in the past', { sendAt: '2020-01-01T00:00:00+08:00' }, 'sendAt'],
    ['unknown attachment type', { content: { attachments: [{ type: 'sticker', url: 'https://x.example/a' }] } }, 'content.attachments.0.type'],
    ['unknown top-level field', { colour: 'red' }, 'colour'],
    ['unknown nested field', { audience: { kind: 'groups', senders: ['s'], groupIds: ['g'], vip: true } }, 'audience.vip'],
    ['__proto__ key', JSON.parse('{"__proto__": {"admin": true}}'), '__proto__'],
    ['groupIds on a customer send', { audience: { kind: 'customers', customerIds: ['c'], groupIds: ['g'] } }, 'audience.groupIds'],
    ['an audience naming nobody', { audience: { kind: 'customers' } }, 'audience'],
    ['a number where an id goes', { audience: { kind: 'groups', senders: [464248809015488], groupIds: ['g'] } }, 'audience.senders.0'],
  ])('%s → names %s', (_label, patch, path) => {
    expect(paths({ ...valid(), ...patch })).toContain(path);
  });

  it('the core schema takes any vendor id (it knows no vendor); the request schema only registered ones, saying which', () => {
    expect(taskSchemas().CreateTaskInput.safeParse({ ...valid(), vendor: 'wechat' }).success).toBe(true);
    const r = requestSchemas().CreateTaskRequest.safeParse({ ...valid(), vendor: 'wechat' });
    expect(r.success ? [] : fieldErrors(r.error)).toEqual([{ path: 'vendor', message: 'must be one of weiban, youmi, tanmarket, wshoto, wecom' }]);
    const n = requestSchemas().CreateTaskRequest.safeParse({ ...valid(), vendor: 7 });
    expect(n.success ? [] : fieldErrors(n.error)).toEqual([{ path: 'vendor', message: 'must be one of weiban, youmi, tanmarket, wshoto, wecom' }]);
  });

  it('text of exactly 4000 bytes passes; 4001 does not', () => {
    expect(paths({ ...valid(), content: { text: 'a'.repeat(4000) } })).toEqual([]);
    expect(paths({ ...valid(), content: { text: 'a'.repeat(4001) } })).toEqual(['content.text']);
  });

  it('refuses unsorted and equal SOP step times, naming the step', () => {
    const { content, sendAt: _s, ...rest } = valid();
    const t1 = new Date(Date.now() + 7200_000).toISOString();
    const t0 = inAnHour();
    expect(
      paths({
        ...rest,
        steps: [
          { sendAt: t1, content },
          { sendAt: t0, content },
        ],
      }),
    ).toEqual(['steps.1.sendAt']);
    expect(
      paths({
        ...rest,
        steps: [
          { sendAt: t1, content },
          { sendAt: t1, content },
        ],
      }),
    ).toEqual(['steps.1.sendAt']);
  });

  it('refuses both content and steps, and neither', () => {
    const { content, sendAt: _s, ...rest } = valid();
    expect(paths({ ...valid(), steps: [{ sendAt: inAnHour(), content }] })).toContain('steps');
    expect(paths(rest)).toContain('content');
  });

  it('an offset sendAt means the same instant in any zone', () => {
    // Next year's 1 December, so the instant stays in the future whenever the suite runs.
    const year = new Date().getUTCFullYear() + 1;
    const a = requestSchemas().CreateTaskRequest.parse({ ...valid(), sendAt: `${year}-12-01T10:00:00+08:00` });
    expect(new Date(a.sendAt!).toISOString()).toBe(`${year}-12-01T02:00:00.000Z`);
  });

  it('fuzz: any JSON value either parses or yields field errors — never throws', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (v) => {
        const r = requestSchemas().CreateTaskRequest.safeParse(v);
        if (!r.success) {
          const errs = fieldErrors(r.error);
          expect(errs.length).toBeGreaterThan(0);
          for (const e of errs) expect(typeof e.path).toBe('string');
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('fuzz: mutating one field of a valid task never crashes validation and names a field', () => {
    const keys = ['vendor', 'name', 'audience', 'content', 'sendAt', 'steps', 'callbackUrl', 'vendorOptions'];
    fc.assert(
      fc.property(fc.constantFrom(...keys), fc.anything({ maxDepth: 3, withBigInt: false, withMap: false, withSet: false }), (key, value) => {
        const body = { ...valid(), [key]: value };
        const r = requestSchemas().CreateTaskRequest.safeParse(JSON.parse(JSON.stringify(body) ?? 'null'));
        if (!r.success) expect(fieldErrors(r.error).every((e) => e.path.length > 0)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});
