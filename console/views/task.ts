/**
 * One task: its summary, the actions (cancel, move, remind), figures, each step with the vendor's
 * ids and answers, the timeline (history with causes), callbacks to the caller, and recipients.
 * A refresh redraws the data only when the task changed, keeping open details and focus; the
 * actions' form is never redrawn under the person using it.
 */
import type { Step, Task } from '../../lib/core/task';
import type { RecipientRow } from '../../lib/core/recipients';
import { api, ApiError } from '../api';
import { facts, fill, h, type Child } from '../dom';
import { t, type Key } from '../i18n';
import { problemView } from '../problems';
import type { Shell, View } from '../shell';
import { formatTime, isoToLocalInput, localInputToIso, offsetOf } from '../time';
import { badge, confirmDialog, liveRegion, section, table, time } from '../ui';
import { vendorName } from './list';

const RECIPIENT_STATUSES = ['unsent', 'sent', 'notFriend', 'overQuota', 'failed'];
const FIGURES = ['planned', 'sent', 'failed', 'notFriend', 'overQuota', 'unconfirmedStaff'] as const;

const pretty = (v: unknown) => JSON.stringify(v, null, 2);
const en = (...c: Child[]) => h('span', { lang: 'en' }, ...c);
const count = (n: number | undefined) => (n === undefined ? undefined : String(n));

export function taskView(shell: Shell, id: string): View {
  let disposed = false;
  let task: Task | undefined;
  let seen = '';
  const path = `/v1/tasks/${encodeURIComponent(id)}`;
  const heading = h('h1', { tabindex: -1 }, id);
  const loadAlert = liveRegion('alert');
  const summary = h('div');
  const actionsSlot = h('div');
  const figuresSlot = h('div');
  const details = h('div');
  const recipients = recipientsSection(shell, path);

  async function load(): Promise<void> {
    try {
      const got = await api<Task>('GET', path);
      if (disposed) return;
      loadAlert.show();
      shell.updated();
      // Callbacks' attempts and the like change without a new state: compare the whole answer.
      const text = JSON.stringify(got);
      if (text === seen) return;
      seen = text;
      show(got);
      await recipients.refresh();
    } catch (err) {
      if (!disposed && !shell.unauthorized(err)) loadAlert.show(problemView(err, 'load'));
    }
  }

  function show(next: Task): void {
    const first = !task;
    task = next;
    heading.textContent = next.name;
    redraw(summary, () => [summaryOf(next)]);
    redraw(figuresSlot, () => [figuresOf(next)]);
    redraw(details, () => [stepsOf(next), timelineOf(next), callbacksOf(next)]);
    if (first) fill(actionsSlot, actionsOf(next));
  }

  /** The actions, made once: each answer (the task, or a problem) is shown in the section's live regions. */
  function actionsOf(initial: Task): HTMLElement {
    const alert = liveRegion('alert');
    const status = liveRegion('status');
    const act = async (button: HTMLButtonElement, action: 'cancel' | 'move' | 'remind', call: () => Promise<Task>, done: () => string) => {
      button.disabled = true;
      alert.show();
      status.show(t('working'));
      try {
        const next = await call();
        if (disposed) return;
        show(next);
        status.show(done());
      } catch (err) {
        if (disposed || shell.unauthorized(err)) return;
        status.show();
        alert.show(problemView(err, action));
      } finally {
        button.disabled = false;
      }
    };

    const cancel = h('button', { type: 'button', class: 'danger' }, t('actions.cancel'));
    cancel.addEventListener('click', () => {
      void confirmDialog(t('actions.cancelAsk', { name: task?.name ?? id }), t('actions.cancelYes'), t('actions.keep')).then((yes) => {
        if (yes)
          void act(
            cancel,
            'cancel',
            () => api<Task>('DELETE', path),
            () => t('actions.cancelled'),
          );
      });
    });
    const remind = h('button', { type: 'button', class: 'secondary', 'aria-describedby': 'remind-hint' }, t('actions.remind'));
    remind.addEventListener(
      'click',
      () =>
        void act(
          remind,
          'remind',
          () => api<Task>('POST', `${path}/remind`),
          () => t('actions.reminded'),
        ),
    );

    const steps = initial.steps;
    const waiting = steps.find((s) => s.status === 'SCHEDULED') ?? steps[0];
    const stepSelect = h(
      'select',
      { id: 'move-step', value: String(waiting?.index ?? 0) },
      ...steps.map((s) => h('option', { value: String(s.index) }, t('step.n', { n: s.index + 1 }))),
    );
    const when = h('input', { id: 'move-at', type: 'datetime-local', step: 60, required: true, value: waiting ? isoToLocalInput(waiting.sendAt) : '' });
    stepSelect.addEventListener('change', () => {
      const s = task?.steps[Number(stepSelect.value)];
      if (s) when.value = isoToLocalInput(s.sendAt);
    });
    const moveButton = h('button', { type: 'submit', class: 'secondary' }, t('actions.moveSubmit'));
    const move = h(
      'form',
      { class: 'move', method: 'post', novalidate: true },
      steps.length > 1 && h('div', { class: 'field' }, h('label', { for: 'move-step' }, t('actions.step')), stepSelect),
      h('div', { class: 'field' }, h('label', { for: 'move-at' }, t('actions.newTime', { offset: offsetOf(new Date()) })), when),
      moveButton,
    );
    move.addEventListener('submit', (e) => {
      e.preventDefault();
      const sendAt = localInputToIso(when.value);
      if (!sendAt) {
        status.show();
        alert.show(t('actions.badTime'));
        when.focus();
        return;
      }
      const index = Number(stepSelect.value);
      const body = steps.length > 1 ? { steps: [{ index, sendAt }] } : { sendAt };
      void act(
        moveButton,
        'move',
        () => api<Task>('PATCH', path, { body }),
        () => t('actions.moved', { n: index + 1, time: formatTime(sendAt) }),
      );
    });

    return section(
      'actions',
      t('actions.title'),
      h('div', { class: 'buttons' }, cancel, remind),
      h('p', { id: 'remind-hint', class: 'hint' }, t('actions.remindHint')),
      h('fieldset', null, h('legend', null, t('actions.move')), move),
      status,
      alert,
    );
  }

  fill(
    shell.main,
    h('p', { class: 'back' }, h('a', { href: '#/' }, '← ', t('task.back'))),
    heading,
    loadAlert,
    summary,
    // Laptop: what can be done and the figures in a column at the left, the detail at the right; phone: one column, in this order.
    h('div', { class: 'task-grid' }, h('div', { class: 'task-side' }, actionsSlot, figuresSlot), h('div', { class: 'task-main' }, details, recipients.element)),
  );
  void load();
  return {
    refresh: load,
    dispose: () => {
      disposed = true;
      recipients.dispose();
    },
  };
}

/** Redraw a part of the page, keeping which <details> were open and which one had focus. */
function redraw(container: HTMLElement, build: () => Child[]): void {
  const open = new Set([...container.querySelectorAll<HTMLDetailsElement>('details[data-key][open]')].map((d) => d.dataset.key));
  const active = document.activeElement;
  const focused = active && container.contains(active) ? active.closest<HTMLElement>('[data-key]')?.dataset.key : undefined;
  fill(container, ...build());
  for (const d of container.querySelectorAll<HTMLDetailsElement>('details[data-key]')) if (open.has(d.dataset.key)) d.open = true;
  if (focused) container.querySelector<HTMLElement>(`[data-key="${CSS.escape(focused)}"] summary`)?.focus();
}

function summaryOf(task: Task): HTMLElement {
  const a = task.audience;
  const size = (k: string, ids: unknown[] | undefined) => task.audienceSize?.[k] ?? ids?.length ?? 0;
  // `Groups · senders 1 · groups 2`: only what the audience names.
  const parts: [Key, number][] = [
    ['audience.senders', size('senders', a.senders)],
    ['audience.customers', size('customerIds', a.customerIds)],
    ['audience.groups', size('groupIds', a.groupIds)],
  ];
  const audience = [
    t(a.kind === 'groups' ? 'kind.groups' : 'kind.customers'),
    ...parts.filter(([, n]) => n > 0).map(([k, n]) => `${t(k)} ${n}`),
    a.tags?.include ? t('audience.byTags') : '',
  ]
    .filter(Boolean)
    .join(' · ');
  const unknown = task.status === 'UNKNOWN' || task.steps.some((s) => s.status === 'UNKNOWN');
  return section(
    'summary',
    t('task.summary'),
    facts([
      [t('task.status'), badge(task.status)],
      [t('task.vendor'), vendorName(task.vendor)],
      [t('task.id'), h('code', null, task.id)],
      [t('task.created'), time(task.createdAt)],
      [t('task.updated'), time(task.updatedAt)],
      [t('task.notAfter'), time(task.notAfter)],
      [t('task.audience'), audience],
      [t('task.callbackUrl'), task.callbackUrl && h('code', null, task.callbackUrl)],
    ]),
    unknown && h('p', { class: 'warn' }, t('task.unknown')),
  );
}

function figures(stats: NonNullable<Task['stats']>): HTMLElement {
  return facts(
    FIGURES.map((f) => [t(`figures.${f}`), count(stats[f])]),
    'facts figures',
  );
}

function figuresOf(task: Task): HTMLElement {
  return section('figures', t('figures.title'), task.stats ? figures(task.stats) : h('p', { class: 'note' }, t('figures.none')));
}

function stepOf(step: Step, several: boolean): HTMLElement {
  const c = step.content;
  const hid = `step-${step.index}-h`;
  return h(
    'section',
    { class: 'step', 'aria-labelledby': hid },
    h('h3', { id: hid }, t('step.n', { n: step.index + 1 }), ' ', badge(step.status)),
    facts([
      [t('step.sendAt'), time(step.sendAt)],
      [t('step.notAfter'), time(step.notAfter)],
      [t('step.vendorTaskId'), step.vendorTaskId && h('code', null, step.vendorTaskId)],
      [t('step.submittedAt'), time(step.submittedAt)],
      [t('step.attempts'), count(step.attempts)],
      [t('step.polls'), count(step.polls)],
      [t('step.deferrals'), count(step.deferrals)],
      [t('step.nextAttempt'), time(step.nextAttemptAt)],
      [t('step.error'), step.error && h('span', { class: 'error-text', lang: 'en' }, h('code', null, step.error.code), ' ', step.error.message)],
      [t('step.text'), c.text && h('span', { class: 'pre' }, c.text)],
      [
        t('step.attachments'),
        c.attachments?.length &&
          h(
            'ul',
            { class: 'plain' },
            ...c.attachments.map((x) =>
              h('li', null, h('code', null, x.type), ' ', 'title' in x && x.title ? x.title : '', 'url' in x && x.url ? ` ${x.url}` : ''),
            ),
          ),
      ],
    ]),
    several && step.stats && figures(step.stats),
    step.batches?.length &&
      table(
        t('step.batches'),
        [t('batch.index'), t('batch.size'), t('batch.senders'), t('task.status'), t('step.vendorTaskId'), t('step.error')],
        step.batches.map((b) => [
          String(b.index + 1),
          String(b.size),
          count(b.senders) ?? t('none'),
          b.status,
          b.vendorTaskId ? h('code', null, b.vendorTaskId) : t('none'),
          b.error ? en(`${b.error.code} ${b.error.message}`) : t('none'),
        ]),
      ),
    step.vendorResponse !== undefined &&
      h(
        'details',
        { 'data-key': `response-${step.index}` },
        h('summary', null, t('step.response')),
        h('pre', { class: 'json', lang: 'en' }, pretty(step.vendorResponse)),
      ),
  );
}

function stepsOf(task: Task): HTMLElement {
  return section('steps', t('steps.title'), ...task.steps.map((s) => stepOf(s, task.steps.length > 1)));
}

function timelineOf(task: Task): HTMLElement {
  return section(
    'timeline',
    t('timeline.title'),
    h(
      'ol',
      { class: 'timeline' },
      ...task.history.map((e) =>
        h(
          'li',
          null,
          h('div', { class: 'when' }, time(e.at), ' · ', e.step === undefined ? t('timeline.task') : t('step.n', { n: e.step + 1 })),
          h('div', null, e.from ? [badge(e.from), ' → '] : '', badge(e.to)),
          h('div', { class: 'cause', lang: 'en' }, e.cause),
        ),
      ),
    ),
  );
}

function callbacksOf(task: Task): HTMLElement {
  const cb = task.callbacks;
  if (!task.callbackUrl) return section('callbacks', t('callbacks.title'), h('p', { class: 'note' }, t('callbacks.none')));
  return section(
    'callbacks',
    t('callbacks.title'),
    facts([
      [t('callbacks.delivered'), String(cb?.delivered ?? 0)],
      [t('callbacks.pending'), String(cb?.pending ?? 0)],
      [t('callbacks.abandoned'), String(cb?.abandoned.length ?? 0)],
    ]),
    cb?.attempts.length
      ? table(
          t('callbacks.attempts'),
          [t('callbacks.event'), t('callbacks.at'), t('callbacks.http'), t('callbacks.error')],
          cb.attempts.map((a) => [
            h('code', null, a.eventId),
            time(a.at),
            a.status === undefined ? t('none') : String(a.status),
            a.error ? en(a.error) : t('none'),
          ]),
        )
      : h('p', { class: 'note' }, t('callbacks.noAttempts')),
  );
}

/** GET /recipients, a page at a time, filtered by status; a vendor that reports none (409) is explained, not an error. */
function recipientsSection(shell: Shell, path: string) {
  let disposed = false;
  let generation = 0;
  let items: RecipientRow[] = [];
  let cursor: string | null = null;
  let pages = 1;
  const alert = liveRegion('alert');
  const filter = h(
    'select',
    { id: 'r-status' },
    h('option', { value: '' }, t('list.all')),
    ...RECIPIENT_STATUSES.map((s) => h('option', { value: s }, t(`recipient.${s}` as Key))),
  );
  const controls = h('div', { class: 'field' }, h('label', { for: 'r-status' }, t('recipients.status')), filter);
  const body = h('div');
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, t('list.more'));
  const element = section('recipients', t('recipients.title'), controls, alert, body, more);

  async function read(count: number, from: string | null) {
    const got: RecipientRow[] = [];
    let n = 0;
    do {
      const q = new URLSearchParams({ limit: '100' });
      if (filter.value) q.set('status', filter.value);
      if (from) q.set('cursor', from);
      const page = await api<{ items: RecipientRow[]; nextCursor: string | null }>('GET', `${path}/recipients?${q.toString()}`);
      got.push(...page.items);
      from = page.nextCursor;
      n++;
    } while (n < count && from);
    return { got, from, n };
  }

  async function load(append: boolean): Promise<void> {
    const mine = ++generation;
    try {
      const r = append ? await read(1, cursor) : await read(pages, null);
      if (disposed || mine !== generation) return;
      items = append ? [...items, ...r.got] : r.got;
      cursor = r.from;
      pages = append ? pages + 1 : r.n;
      alert.show();
      render();
    } catch (err) {
      if (disposed || mine !== generation || shell.unauthorized(err)) return;
      if (err instanceof ApiError && err.status === 409) {
        controls.hidden = true;
        more.hidden = true;
        fill(body, h('p', { class: 'note' }, t('recipients.unsupported')), err.problem?.detail && h('p', { class: 'hint', lang: 'en' }, err.problem.detail));
      } else alert.show(problemView(err, 'load'));
    }
  }

  function render(): void {
    more.hidden = !cursor;
    fill(
      body,
      items.length
        ? table(
            t('recipients.caption', { n: items.length }),
            [t('recipients.step'), t('recipients.sender'), t('recipients.recipient'), t('recipients.kind'), t('task.status'), t('recipients.sentAt')],
            items.map((r) => [
              String(r.step + 1),
              r.sender ?? t('none'),
              h('code', null, r.recipient),
              t(r.kind === 'group' ? 'kind.group' : 'kind.customer'),
              badge(r.status, 'recipient'),
              time(r.sentAt) ?? t('none'),
            ]),
          )
        : h('p', { class: 'note' }, t('recipients.empty')),
    );
  }

  filter.addEventListener('change', () => {
    pages = 1;
    void load(false);
  });
  more.addEventListener('click', () => void load(true));
  return {
    element,
    refresh: () => load(false),
    dispose: () => {
      disposed = true;
    },
  };
}
