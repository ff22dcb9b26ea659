import { describe, expect, it } from 'vitest';
import { Int64, parseExact, stringifyExact } from '../kit/exactJson';
import type { StepRequestInput } from '../adapter';
import { parseWshotoStatus, wshotoAdapter } from './adapter';
import { jsonAfter, seed } from '../../../test/helpers/seeds';

const doc = seed('003');
const response = jsonAfter(doc, '返回值:');
const requestExample = doc.slice(doc.indexOf('Body参数:'), doc.indexOf('参数 类型 必填 说明', doc.indexOf('Body参数:')));

describe('wshoto: query_task_detail_info, against seed 003', () => {
  it('reads the seed response: status 1 (creating) → SUBMITTED', () => {
    expect(response.code).toBe(0);
    expect(response.data.status).toBe(1);
    expect(parseWshotoStatus(response)).toMatchObject({ state: 'SUBMITTED' });
  });

  it.each([
    [0, 'SUBMITTED'],
    [1, 'SUBMITTED'],
    [2, 'RUNNING'],
    [3, 'COMPLETED'],
    [4, 'FAILED'],
    [-1, 'FAILED'],
  ])('status %i → %s', (status, state) => {
    expect(parseWshotoStatus({ ...response, data: { ...response.data, status } }).state).toBe(state);
  });

  it('a failed task carries error_info', () => {
    const s = parseWshotoStatus({ ...response, data: { ...response.data, status: -1 } });
    expect(s.error).toEqual({ code: 'wshoto.status_-1', message: response.data.error_info });
  });

  it('template_id goes out as an exact JSON long (the seed example is past 2^53)', () => {
    const seedId = /"template_id":\s*(\d+)/.exec(requestExample)?.[1] as string;
    expect(seedId).toBe('1254676189925432389');
    expect(Number.isSafeInteger(Number(seedId))).toBe(false);
    expect(stringifyExact({ template_id: new Int64(seedId) })).toBe(`{"template_id":${seedId}}`);
    expect((parseExact(`{"code":0,"data":{"template_id":${seedId}}}`) as any).data.template_id).toBe(seedId);
  });
});

describe('wshoto: create requests', () => {
  const input = (over: Partial<StepRequestInput> = {}): StepRequestInput => ({
    taskId: 'tsk_x',
    name: '双十一',
    stepIndex: 0,
    sendAt: '2026-12-01T02:00:00.000Z',
    audience: { kind: 'customers', senders: ['zhangsan'], customerIds: ['wm1', 'wm2'] },
    content: { text: '记得领券', attachments: [{ type: 'material', materialId: '1254676189925432390', kind: '3' }] },
    vendorOptions: wshotoAdapter.options.parse({}),
    ...over,
  });

  it('customers → follow_up/async_create with explain.materials by id', () => {
    const req = wshotoAdapter.buildRequest(input());
    expect(req.path).toBe('/openapi/task/follow_up/async_create');
    const wire = stringifyExact(req.body);
    expect(JSON.parse(wire.replace(/"id":(\d+)/, '"id":"$1"'))).toEqual({
      template_name: '双十一',
      template_type: 1,
      user_id: 'zhangsan',
      user_customers_list: [{ user_id: 'zhangsan', send_ids: ['wm1', 'wm2'] }],
      priority: 1,
      explain: { content: '记得领券', materials: [{ id: '1254676189925432390', type: 3, send_type: 2 }] },
      end_time: Date.parse('2026-12-01T02:00:00Z') / 1000 + 7 * 86400,
    });
    expect(wire).toContain('"id":1254676189925432390');
  });

  it('groups → super mass send', () => {
    const req = wshotoAdapter.buildRequest(
      input({ audience: { kind: 'groups', senders: ['zhangsan'], groupIds: ['wrX'] }, vendorOptions: wshotoAdapter.options.parse({ end_time: 1800000000 }) }),
    );
    expect(req.path).toBe('/openapi/mass_send/corp/async_create_super_mass_info');
    expect(req.body).toMatchObject({
      template_name: '双十一',
      user_id: 'zhangsan',
      user_targets_info_list: [{ user_id: 'zhangsan', send_ids: ['wrX'] }],
      end_time: 1800000000,
    });
  });

  it('a material needs an integer id and a kind 1–12', () => {
    const errs = wshotoAdapter.check(input({ content: { attachments: [{ type: 'material', materialId: 'abc', kind: '13' }] } }));
    expect(errs.map((e) => e.path)).toEqual(['content.attachments.0.materialId', 'content.attachments.0.kind']);
  });
});
