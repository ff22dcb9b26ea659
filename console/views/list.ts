/**
 * The tenant's tasks, newest first as GET /v1/tasks returns them, filtered by status and vendor
 * (the API's filters) and by name (here, within the pages loaded: the API has no name filter).
 * A refresh reads again as many pages as are loaded and updates the rows in place, so keyboard
 * focus and the reading position survive it.
 */
import type { Task } from '../../lib/core/task';
import { api } from '../api';
import { fill, h } from '../dom';
import { t, type Key } from '../i18n';
import { problemView } from '../problems';
import type { Shell, View } from '../shell';
import { badge, liveRegion, time } from '../ui';

const PAGE_SIZE = 25;
const STATUSES = ['SCHEDULED', 'DISPATCHING', 'SUBMITTED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED', 'UNKNOWN'];

/** Kept across navigation: back from a task, the list is as it was left. */
const state = { status: '', vendor: '', name: '', pages: 1, items: [] as Task[], nextCursor: null as string | null, loaded: false };
let vendors: { id: string; name: string }[] = ['weiban', 'youmi', 'tanmarket', 'wshoto', 'wecom'].map((id) => ({ id, name: id }));
let vendorsLoaded = false;

export const vendorName = (id: string) => vendors.find((v) => v.id === id)?.name ?? id;

/** The step a person cares about: the next one waiting, else the last. */
const currentStep = (task: Task) => task.steps.find((s) => s.status === 'SCHEDULED') ?? task.steps.at(-1);

export function listView(shell: Shell): View {
  let disposed = false;
  let generation = 0;
  const alert = liveRegion('alert');
  const rows = new Map<string, HTMLTableRowElement>();
  const headers: Key[] = ['list.col.name', 'list.col.status', 'list.col.vendor', 'list.col.sendAt', 'list.col.figures', 'list.col.created'];
  const caption = h('caption');
  const tbody = h('tbody');
  const table = h('table', { class: 'grid tasks' }, caption, h('thead', null, h('tr', null, ...headers.map((k) => h('th', { scope: 'col' }, t(k))))), tbody);
  const note = h('p', { class: 'note', role: 'status' });
  const more = h('button', { type: 'button', class: 'secondary', onclick: () => void loadMore() }, t('list.more'));

  const statusSelect = h(
    'select',
    { id: 'f-status', value: state.status },
    h('option', { value: '' }, t('list.all')),
    ...STATUSES.map((s) => h('option', { value: s }, t(`status.${s}` as Key))),
  );
  const vendorSelect = h('select', { id: 'f-vendor' });
  const fillVendors = () => {
    fill(vendorSelect, h('option', { value: '' }, t('list.all')), ...vendors.map((v) => h('option', { value: v.id }, v.name)));
    vendorSelect.value = state.vendor;
  };
  fillVendors();
  const nameHint = h('p', { id: 'f-name-hint', class: 'hint' });
  const nameInput = h('input', { id: 'f-name', type: 'search', value: state.name, autocomplete: 'off', 'aria-describedby': 'f-name-hint' });
  const filters = h(
    'form',
    { role: 'search', class: 'filters', 'aria-label': t('list.filters') },
    h('div', { class: 'field' }, h('label', { for: 'f-status' }, t('list.status')), statusSelect),
    h('div', { class: 'field' }, h('label', { for: 'f-vendor' }, t('list.vendor')), vendorSelect),
    h('div', { class: 'field grow' }, h('label', { for: 'f-name' }, t('list.name')), nameInput, nameHint),
  );
  filters.addEventListener('submit', (e) => e.preventDefault());
  statusSelect.addEventListener('change', () => {
    state.status = statusSelect.value;
    void reload();
  });
  vendorSelect.addEventListener('change', () => {
    state.vendor = vendorSelect.value;
    void reload();
  });
  nameInput.addEventListener('input', () => {
    state.name = nameInput.value;
    render();
  });

  async function fetchPages(count: number, cursor: string | null) {
    const items: Task[] = [];
    let pages = 0;
    do {
      const q = new URLSearchParams({ limit: String(PAGE_SIZE) });
      if (state.status) q.set('status', state.status);
      if (state.vendor) q.set('vendor', state.vendor);
      if (cursor) q.set('cursor', cursor);
      const page = await api<{ items: Task[]; nextCursor: string | null }>('GET', `/v1/tasks?${q.toString()}`);
      items.push(...page.items);
      cursor = page.nextCursor;
      pages++;
    } while (pages < count && cursor);
    return { items, cursor, pages };
  }

  /** Read `pages` pages from the start (a filter change: one; a refresh: as many as are loaded). */
  async function reload(pages = 1, quiet = false): Promise<void> {
    const mine = ++generation;
    if (!quiet) table.setAttribute('aria-busy', 'true');
    try {
      const got = await fetchPages(pages, null);
      if (disposed || mine !== generation) return;
      Object.assign(state, { items: got.items, nextCursor: got.cursor, pages: got.pages, loaded: true });
      alert.show();
      shell.updated();
      render();
    } catch (err) {
      if (disposed || mine !== generation || shell.unauthorized(err)) return;
      alert.show(problemView(err, 'load'));
    } finally {
      if (mine === generation) table.removeAttribute('aria-busy');
    }
  }

  async function loadMore(): Promise<void> {
    if (!state.nextCursor) return;
    const mine = ++generation;
    more.disabled = true;
    try {
      const got = await fetchPages(1, state.nextCursor);
      if (disposed || mine !== generation) return;
      const known = new Set(state.items.map((x) => x.id));
      state.items.push(...got.items.filter((x) => !known.has(x.id)));
      state.nextCursor = got.cursor;
      state.pages++;
      render();
    } catch (err) {
      if (!disposed && !shell.unauthorized(err)) alert.show(problemView(err, 'load'));
    } finally {
      more.disabled = false;
    }
  }

  function cells(task: Task): [string, () => HTMLElement | string | Node][] {
    const step = currentStep(task);
    const s = task.stats;
    return [
      [task.id + task.name, () => h('a', { href: `#/tasks/${encodeURIComponent(task.id)}` }, task.name)],
      [task.status, () => badge(task.status)],
      [vendorName(task.vendor), () => vendorName(task.vendor)],
      [
        `${step?.sendAt}|${task.steps.length}`,
        () => h('span', null, time(step?.sendAt) ?? t('none'), task.steps.length > 1 && h('span', { class: 'sub' }, t('list.steps', { n: task.steps.length }))),
      ],
      [JSON.stringify(s ?? null), () => (s ? `${s.sent ?? 0} / ${s.planned ?? t('none')}` : t('none'))],
      [task.createdAt, () => time(task.createdAt) as HTMLElement],
    ];
  }

  /** Each cell is redrawn only when what it shows changed: an unchanged row keeps its elements (and focus). */
  function update(row: HTMLTableRowElement, task: Task): void {
    cells(task).forEach(([sig, make], i) => {
      const td = row.cells[i];
      if (!td) return;
      if (td.dataset.sig !== sig) {
        fill(td, make());
        td.dataset.sig = sig;
      }
    });
  }

  function render(): void {
    const q = state.name.trim().toLowerCase();
    const shown = q ? state.items.filter((x) => x.name.toLowerCase().includes(q)) : state.items;
    let next: ChildNode | null = tbody.firstChild;
    const keep = new Set<string>();
    for (const task of shown) {
      keep.add(task.id);
      let row = rows.get(task.id);
      if (!row) {
        row = h(
          'tr',
          { 'data-id': task.id },
          ...headers.map((k, i) => h(i === 0 ? 'th' : 'td', i === 0 ? { scope: 'row', 'data-label': t(k) } : { 'data-label': t(k) })),
        );
        rows.set(task.id, row);
      }
      update(row, task);
      if (row === next) next = row.nextSibling;
      else tbody.insertBefore(row, next);
    }
    for (const [id, row] of rows)
      if (!keep.has(id)) {
        row.remove();
        rows.delete(id);
      }
    caption.textContent = t('list.caption', { shown: shown.length, loaded: state.items.length });
    nameHint.textContent = t('list.nameHint', { n: state.items.length });
    more.hidden = !state.nextCursor;
    const said = !state.loaded
      ? t('loading')
      : shown.length === 0
        ? t(state.nextCursor ? 'list.emptyMore' : 'list.empty')
        : state.nextCursor
          ? ''
          : t('list.end');
    // A live region: written only when what it says changes, so a refresh announces nothing new.
    if (note.textContent !== said) note.textContent = said;
  }

  fill(shell.main, h('h1', { tabindex: -1 }, t('list.title')), filters, alert, h('div', { class: 'table-wrap' }, table), note, more);
  render();
  if (!vendorsLoaded)
    void api<{ items: { id: string; name: string }[] }>('GET', '/v1/vendors').then(
      (v) => {
        vendors = v.items.map(({ id, name }) => ({ id, name }));
        vendorsLoaded = true;
        if (!disposed) {
          fillVendors();
          render();
        }
      },
      () => undefined,
    );
  void reload(Math.max(1, state.pages), state.loaded);
  return {
    refresh: () => reload(Math.max(1, state.pages), true),
    dispose: () => {
      disposed = true;
    },
  };
}
