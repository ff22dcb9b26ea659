/** Pieces several views share: status badges, times, the confirm dialog, message regions. */
import { fill, h, type Child } from './dom';
import { hasLabel, t } from './i18n';
import { formatTime } from './time';

/** A status in words (the colour only repeats it); `data-s` carries the API's own name. */
export function badge(status: string, prefix: 'status' | 'recipient' = 'status'): HTMLElement {
  const key = `${prefix}.${status}`;
  return h('span', { class: 'badge', 'data-s': status }, hasLabel(key) ? t(key) : status);
}

export function time(iso: string | undefined): Child {
  return iso ? h('time', { datetime: iso }, formatTime(iso)) : undefined;
}

/**
 * A live region, made empty and kept: assistive technology announces what is later put in it.
 * `alert` for what went wrong (interrupts), `status` for what went right.
 */
export function liveRegion(kind: 'alert' | 'status'): HTMLElement & { show: (...c: Child[]) => void } {
  const el = h('div', { class: `live live-${kind}`, role: kind, 'aria-live': kind === 'alert' ? 'assertive' : 'polite' });
  return Object.assign(el, { show: (...c: Child[]) => fill(el, ...c) });
}

/** Ask before doing something that cannot be undone: a modal <dialog> (focus kept inside, Escape answers no). */
export function confirmDialog(message: string, yes: string, no: string): Promise<boolean> {
  return new Promise((resolve) => {
    const dialog = h('dialog', { class: 'confirm', 'aria-labelledby': 'confirm-text' });
    const close = (answer: string) => () => dialog.close(answer);
    dialog.append(
      h('p', { id: 'confirm-text' }, message),
      h(
        'div',
        { class: 'buttons' },
        h('button', { type: 'button', class: 'secondary', autofocus: true, onclick: close('no') }, no),
        h('button', { type: 'button', class: 'danger', onclick: close('yes') }, yes),
      ),
    );
    dialog.addEventListener('close', () => {
      resolve(dialog.returnValue === 'yes');
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

export function section(id: string, title: string, ...children: Child[]): HTMLElement {
  return h('section', { 'aria-labelledby': `${id}-h`, class: 'card' }, h('h2', { id: `${id}-h` }, title), ...children);
}

/** A table with a caption and column headers (scope=col); `labels` repeat the headers on phones, where rows stack. */
export function table(caption: string, headers: string[], rows: Child[][], cls = ''): HTMLTableElement {
  return h(
    'table',
    { class: `grid ${cls}`.trim() },
    h('caption', null, caption),
    h('thead', null, h('tr', null, ...headers.map((x) => h('th', { scope: 'col' }, x)))),
    h('tbody', null, ...rows.map((r) => h('tr', null, ...r.map((c, i) => h('td', { 'data-label': headers[i] }, c))))),
  );
}
