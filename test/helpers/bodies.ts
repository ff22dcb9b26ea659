/** A valid task audience and content per vendor (what each vendor can carry). */
/** The vendors these tests know (the registry is the one list: lib/vendors/registry.test.ts checks they match). */
export const TEST_VENDORS = ['weiban', 'youmi', 'tanmarket', 'wshoto', 'wecom'] as const;
export type Vendor = (typeof TEST_VENDORS)[number];

export const VALID: Record<Vendor, Record<string, unknown>> = {
  weiban: {
    audience: { kind: 'groups', senders: ['zhangsan'], groupIds: ['wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA'] },
    content: { text: '今晚8点开抢', attachments: [{ type: 'link', title: '会场', url: 'https://shop.example.com/1111' }] },
  },
  youmi: {
    audience: { kind: 'customers', senders: ['hex'], customerIds: ['2716475', '2716476'] },
    content: { text: '今晚8点开抢', attachments: [{ type: 'link', title: '会场', url: 'https://shop.example.com/1111' }] },
    vendorOptions: { machine: { ad_wechat_id: 45292, machine_key: 'zvzv9223', machine_name: 'P01' }, nicknames: { '2716475': '利芝' } },
  },
  tanmarket: {
    audience: { kind: 'customers', senders: ['464248809015488'], tags: { include: { match: 'any', ids: ['101'] } } },
    content: { text: '今晚8点开抢', attachments: [{ type: 'material', materialId: '1c0832edb6e811ec99cd00163e06cc86', kind: '2', title: '海报' }] },
  },
  wshoto: {
    audience: { kind: 'customers', senders: ['zhangsan'], customerIds: ['wmA', 'wmB'] },
    content: { text: '今晚8点开抢', attachments: [{ type: 'material', materialId: '1254676189925432390', kind: '3' }] },
    vendorOptions: { priority: 2 },
  },
  wecom: {
    audience: { kind: 'customers', senders: ['zhangsan'], customerIds: ['wmA', 'wmB'] },
    content: { text: '今晚8点开抢', attachments: [{ type: 'link', title: '会场', url: 'https://shop.example.com/1111' }] },
  },
};
