/**
 * Every label in English and Simplified Chinese. The Chinese dictionary is typed by the English
 * one's keys, so a label missing in either language is a type error, not a blank on the page.
 * What the API itself says (a problem's detail, a history entry's cause) is shown as it came, in
 * English, marked lang="en" for screen readers.
 */
const en = {
  title: 'qunfa console',
  brand: 'console',
  skip: 'Skip to content',
  signOut: 'Sign out',
  autoRefresh: 'Refresh every 5 s',
  updated: 'Updated {time}',
  zone: 'Times are in your time zone, {zone} (UTC{offset}).',
  loading: 'Loading…',
  working: 'Working…',
  none: '—',

  'signin.title': 'Sign in',
  'signin.intro':
    "Enter your tenant's API key. It stays in this browser tab only (sessionStorage): it is never put in a URL, and it is forgotten when you sign out or close the tab.",
  'signin.key': 'API key',
  'signin.submit': 'Sign in',
  'signin.checking': 'Checking the key…',
  'signin.empty': 'Enter an API key.',
  'signin.refused': 'This key was refused (401 Unauthorized). Check it and try again.',
  'signin.expired': 'The API refused your key (401). Sign in again.',
  'signin.signedOut': 'Signed out: the key was removed from this tab.',

  'list.title': 'Tasks',
  'list.filters': 'Filters',
  'list.status': 'Status',
  'list.vendor': 'Vendor',
  'list.all': 'All',
  'list.name': 'Name contains',
  'list.nameHint': 'Filters only the tasks loaded so far ({n}); load more to search further.',
  'list.caption': 'Tasks, newest first: {shown} shown of {loaded} loaded',
  'list.col.name': 'Name',
  'list.col.status': 'Status',
  'list.col.vendor': 'Vendor',
  'list.col.sendAt': 'Sends at',
  'list.col.figures': 'Sent / planned',
  'list.col.created': 'Created',
  'list.more': 'Load more',
  'list.empty': 'No tasks match.',
  'list.emptyMore': 'None of the tasks read so far match; load more to keep looking.',
  'list.end': 'All matching tasks are loaded.',
  'list.steps': '{n} steps',

  'status.SCHEDULED': 'Scheduled',
  'status.DISPATCHING': 'Dispatching',
  'status.SUBMITTED': 'Submitted',
  'status.RUNNING': 'Running',
  'status.COMPLETED': 'Completed',
  'status.FAILED': 'Failed',
  'status.CANCELLED': 'Cancelled',
  'status.UNKNOWN': 'Unknown',

  'recipient.unsent': 'Not confirmed yet',
  'recipient.sent': 'Sent',
  'recipient.notFriend': 'No longer a contact',
  'recipient.overQuota': 'Monthly limit reached',
  'recipient.failed': 'Failed',
  'kind.customer': 'Customer',
  'kind.group': 'Group',
  'kind.customers': 'Customers',
  'kind.groups': 'Groups',

  'task.back': 'All tasks',
  'task.summary': 'Summary',
  'task.id': 'Task id',
  'task.status': 'Status',
  'task.vendor': 'Vendor',
  'task.created': 'Created',
  'task.updated': 'Last change',
  'task.notAfter': 'Send no later than',
  'task.audience': 'Audience',
  'audience.senders': 'senders',
  'audience.customers': 'customers',
  'audience.groups': 'groups',
  'audience.byTags': 'by tags',
  'task.callbackUrl': 'Callback URL',
  'task.unknown':
    "Unknown: the request may have reached the vendor, so qunfa will never send it again by itself. Look in the vendor's own console; the timeline says what to look for.",

  'actions.title': 'Actions',
  'actions.cancel': 'Cancel the task',
  'actions.cancelAsk': 'Cancel “{name}”? Steps not yet sent will never be sent; a step already at the vendor is cancelled there where the vendor can.',
  'actions.cancelYes': 'Yes, cancel it',
  'actions.keep': 'No, keep it',
  'actions.cancelled': 'The task was cancelled.',
  'actions.remind': 'Remind staff',
  'actions.remindHint': 'Asks the vendor to remind the staff who have not yet confirmed the send (WeCom can; a vendor that cannot answers 409).',
  'actions.reminded': 'The vendor was asked to remind the staff; the timeline notes it.',
  'actions.move': 'Move a step',
  'actions.step': 'Step',
  'actions.newTime': 'New send time, in your time zone (UTC{offset})',
  'actions.moveSubmit': 'Move',
  'actions.moved': 'Step {n} now sends at {time}.',
  'actions.badTime': 'Enter a date and a time.',

  'figures.title': 'Figures',
  'figures.planned': 'Planned',
  'figures.sent': 'Sent',
  'figures.failed': 'Failed',
  'figures.notFriend': 'No longer a contact',
  'figures.overQuota': 'Monthly limit reached',
  'figures.unconfirmedStaff': 'Staff yet to confirm',
  'figures.none': 'The vendor has reported no figures for this task (yet).',

  'steps.title': 'Steps',
  'step.n': 'Step {n}',
  'step.sendAt': 'Sends at',
  'step.notAfter': 'No later than',
  'step.vendorTaskId': "Vendor's task id",
  'step.submittedAt': 'Accepted by the vendor',
  'step.attempts': 'Attempts',
  'step.polls': 'Status checks',
  'step.deferrals': 'Deferred',
  'step.nextAttempt': 'Next attempt',
  'step.error': "Vendor's error",
  'step.text': 'Text',
  'step.attachments': 'Attachments',
  'step.response': "The vendor's answer",
  'step.batches': 'Batches (one vendor call each)',
  'batch.index': 'Batch',
  'batch.size': 'Recipients',
  'batch.senders': 'Senders',

  'timeline.title': 'Timeline',
  'timeline.task': 'Task',

  'callbacks.title': 'Callbacks to your system',
  'callbacks.none': 'This task has no callback URL: nothing is called back.',
  'callbacks.delivered': 'Delivered',
  'callbacks.pending': 'Pending',
  'callbacks.abandoned': 'Abandoned',
  'callbacks.attempts': 'Each attempt, oldest first',
  'callbacks.noAttempts': 'No attempt yet.',
  'callbacks.event': 'Event',
  'callbacks.at': 'Time',
  'callbacks.http': 'HTTP status',
  'callbacks.error': 'Error',

  'recipients.title': 'Recipients',
  'recipients.status': 'Recipient status',
  'recipients.step': 'Step',
  'recipients.sender': 'Sender',
  'recipients.recipient': 'Recipient',
  'recipients.kind': 'Kind',
  'recipients.sentAt': 'Sent at',
  'recipients.caption': 'Recipients as the vendor last reported them: {n} shown',
  'recipients.empty': 'No recipient outcomes are reported yet.',
  'recipients.unsupported': "This vendor does not report each recipient's outcome; the figures above are what it reports.",

  'problem.fields': 'What to fix:',
  'problem.network': 'The API could not be reached. Check the connection and try again.',
  'problem.400': 'The request was refused: it is not valid.',
  'problem.401': 'The API refused the key.',
  'problem.404': 'There is no such task for this key (a task of another tenant is not shown either).',
  'problem.409.cancel':
    'This task cannot be cancelled: everything in it was already sent, finished or cancelled, or the vendor cannot cancel what it already has.',
  'problem.409.move': 'This step cannot be moved: it was already sent, or is being sent right now.',
  'problem.409.remind': 'Nothing was reminded: this vendor cannot remind staff, or no step is waiting for staff to confirm.',
  'problem.409': 'The task is not in a state that allows this.',
  'problem.413': 'The change would make the task too large to store.',
  'problem.422': 'The vendor cannot carry this, or the request repeats an earlier one with other content.',
  'problem.429': "The vendor's limit is reached. Try again after {after}.",
  'problem.429.soon': "The vendor's limit is reached. Try again in a moment.",
  'problem.503': 'A service qunfa depends on is busy. Try again in a moment.',
  'problem.500': 'The API failed unexpectedly. Try again; if it persists, tell the operators.',
} as const;

export type Key = keyof typeof en;

const zh: Record<Key, string> = {
  title: 'qunfa 群发控制台',
  brand: '群发控制台',
  skip: '跳到正文',
  signOut: '退出',
  autoRefresh: '每 5 秒刷新',
  updated: '更新于 {time}',
  zone: '时间均按您的时区 {zone}（UTC{offset}）显示。',
  loading: '加载中…',
  working: '处理中…',
  none: '—',

  'signin.title': '登录',
  'signin.intro': '请输入租户的 API 密钥。密钥只保存在当前浏览器标签页（sessionStorage）中，不会出现在网址里，退出或关闭标签页后即被清除。',
  'signin.key': 'API 密钥',
  'signin.submit': '登录',
  'signin.checking': '正在验证密钥…',
  'signin.empty': '请输入 API 密钥。',
  'signin.refused': '密钥被拒绝（401 未授权），请检查后重试。',
  'signin.expired': 'API 拒绝了您的密钥（401），请重新登录。',
  'signin.signedOut': '已退出，密钥已从此标签页清除。',

  'list.title': '任务',
  'list.filters': '筛选',
  'list.status': '状态',
  'list.vendor': '服务商',
  'list.all': '全部',
  'list.name': '名称包含',
  'list.nameHint': '仅筛选已加载的任务（{n} 个）；加载更多可继续查找。',
  'list.caption': '任务（最新的在前）：已加载 {loaded} 个，显示 {shown} 个',
  'list.col.name': '名称',
  'list.col.status': '状态',
  'list.col.vendor': '服务商',
  'list.col.sendAt': '发送时间',
  'list.col.figures': '已发送 / 计划',
  'list.col.created': '创建时间',
  'list.more': '加载更多',
  'list.empty': '没有符合条件的任务。',
  'list.emptyMore': '已读取的任务中没有符合条件的；加载更多以继续查找。',
  'list.end': '符合条件的任务已全部加载。',
  'list.steps': '{n} 个步骤',

  'status.SCHEDULED': '待发送',
  'status.DISPATCHING': '派发中',
  'status.SUBMITTED': '已提交',
  'status.RUNNING': '发送中',
  'status.COMPLETED': '已完成',
  'status.FAILED': '失败',
  'status.CANCELLED': '已取消',
  'status.UNKNOWN': '状态未知',

  'recipient.unsent': '员工未确认',
  'recipient.sent': '已发送',
  'recipient.notFriend': '已非好友',
  'recipient.overQuota': '已达本月上限',
  'recipient.failed': '失败',
  'kind.customer': '客户',
  'kind.group': '客户群',
  'kind.customers': '客户群发',
  'kind.groups': '客户群群发',

  'task.back': '全部任务',
  'task.summary': '概要',
  'task.id': '任务 ID',
  'task.status': '状态',
  'task.vendor': '服务商',
  'task.created': '创建时间',
  'task.updated': '最近变更',
  'task.notAfter': '最晚发送时间',
  'task.audience': '发送对象',
  'audience.senders': '员工',
  'audience.customers': '客户',
  'audience.groups': '群',
  'audience.byTags': '按标签筛选',
  'task.callbackUrl': '回调地址',
  'task.unknown': '状态未知：请求可能已到达服务商，qunfa 不会自动重发。请在服务商自己的后台核实；时间线写明了要查找的内容。',

  'actions.title': '操作',
  'actions.cancel': '取消任务',
  'actions.cancelAsk': '确定取消“{name}”吗？尚未发送的步骤将不再发送；已提交到服务商的步骤会在服务商支持时一并取消。',
  'actions.cancelYes': '确定取消',
  'actions.keep': '不取消',
  'actions.cancelled': '任务已取消。',
  'actions.remind': '提醒员工',
  'actions.remindHint': '请服务商提醒尚未确认发送的员工（企业微信支持；不支持的服务商会返回 409）。',
  'actions.reminded': '已请服务商提醒员工，时间线中有记录。',
  'actions.move': '调整发送时间',
  'actions.step': '步骤',
  'actions.newTime': '新的发送时间（您的时区，UTC{offset}）',
  'actions.moveSubmit': '调整',
  'actions.moved': '第 {n} 步将于 {time} 发送。',
  'actions.badTime': '请填写日期和时间。',

  'figures.title': '数据',
  'figures.planned': '计划',
  'figures.sent': '已发送',
  'figures.failed': '失败',
  'figures.notFriend': '已非好友',
  'figures.overQuota': '已达本月上限',
  'figures.unconfirmedStaff': '未确认的员工',
  'figures.none': '服务商（暂）未报告此任务的数据。',

  'steps.title': '步骤',
  'step.n': '第 {n} 步',
  'step.sendAt': '发送时间',
  'step.notAfter': '最晚发送时间',
  'step.vendorTaskId': '服务商任务 ID',
  'step.submittedAt': '服务商接收时间',
  'step.attempts': '尝试次数',
  'step.polls': '状态查询次数',
  'step.deferrals': '延后次数',
  'step.nextAttempt': '下次尝试',
  'step.error': '服务商错误',
  'step.text': '文本',
  'step.attachments': '附件',
  'step.response': '服务商的返回',
  'step.batches': '分批（每批一次服务商调用）',
  'batch.index': '批次',
  'batch.size': '接收人数',
  'batch.senders': '员工数',

  'timeline.title': '时间线',
  'timeline.task': '任务',

  'callbacks.title': '回调到您的系统',
  'callbacks.none': '此任务没有回调地址，不会回调。',
  'callbacks.delivered': '已送达',
  'callbacks.pending': '待送达',
  'callbacks.abandoned': '已放弃',
  'callbacks.attempts': '每次尝试（按时间先后）',
  'callbacks.noAttempts': '尚未尝试。',
  'callbacks.event': '事件',
  'callbacks.at': '时间',
  'callbacks.http': 'HTTP 状态码',
  'callbacks.error': '错误',

  'recipients.title': '接收人',
  'recipients.status': '接收状态',
  'recipients.step': '步骤',
  'recipients.sender': '员工',
  'recipients.recipient': '接收人',
  'recipients.kind': '类型',
  'recipients.sentAt': '发送时间',
  'recipients.caption': '服务商最近报告的接收结果：显示 {n} 条',
  'recipients.empty': '暂无接收结果。',
  'recipients.unsupported': '此服务商不报告每个接收人的结果；上方的数据就是它报告的全部。',

  'problem.fields': '需要修改：',
  'problem.network': '无法连接 API，请检查网络后重试。',
  'problem.400': '请求被拒绝：内容无效。',
  'problem.401': 'API 拒绝了此密钥。',
  'problem.404': '此密钥下没有这个任务（其他租户的任务同样不显示）。',
  'problem.409.cancel': '无法取消此任务：其内容已全部发送、结束或已取消，或服务商无法取消已收到的任务。',
  'problem.409.move': '无法调整此步骤：它已发送，或正在发送。',
  'problem.409.remind': '未提醒任何人：此服务商不支持提醒员工，或没有等待员工确认的步骤。',
  'problem.409': '任务当前的状态不允许此操作。',
  'problem.413': '修改后的任务过大，无法保存。',
  'problem.422': '服务商无法承载此内容，或此请求与先前同一幂等键的请求内容不同。',
  'problem.429': '已达服务商的频率上限，请在 {after} 之后重试。',
  'problem.429.soon': '已达服务商的频率上限，请稍后重试。',
  'problem.503': 'qunfa 依赖的服务繁忙，请稍后重试。',
  'problem.500': 'API 发生意外错误。请重试；如果仍然出错，请联系运维人员。',
};

export type Lang = 'en' | 'zh-CN';
const LANG_KEY = 'qunfa.console.lang';

/** Both dictionaries (the unit test compares their placeholders). */
export const dictionaries: Record<Lang, Record<Key, string>> = { en, 'zh-CN': zh };

/** The remembered choice, else the browser's first language that is Chinese or English (`zh-TW` reads Chinese too). */
function initial(): Lang {
  try {
    const saved = localStorage.getItem(LANG_KEY);
    if (saved === 'en' || saved === 'zh-CN') return saved;
    const first = (navigator.languages?.length ? navigator.languages : [navigator.language]).find((l) => /^(zh|en)\b/i.test(l));
    return first && /^zh\b/i.test(first) ? 'zh-CN' : 'en';
  } catch {
    // no storage or no navigator (not a browser): English
    return 'en';
  }
}

let lang: Lang = initial();

export const currentLang = () => lang;

/** The language, remembered in localStorage (a preference, not a secret). */
export function setLang(next: Lang): void {
  lang = next;
  document.documentElement.lang = next;
  try {
    localStorage.setItem(LANG_KEY, next);
  } catch {
    // not remembered: still applies to this page
  }
}

/** The label for `key` in the current language, `{name}` placeholders filled from `vars`. */
export function t(key: Key, vars: Record<string, string | number> = {}): string {
  const text = dictionaries[lang][key];
  return text.replace(/\{(\w+)\}/g, (m, name: string) => (name in vars ? String(vars[name]) : m));
}

/** Whether the dictionary has a label for this key (statuses the page does not know yet are shown as the API names them). */
export const hasLabel = (key: string): key is Key => key in en;
