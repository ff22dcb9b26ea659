/**
 * An API error as a person reads it: first what it means for what they tried (in their language),
 * then the API's own words — the problem's title and status, its detail, and each `errors[]`
 * entry's field and message.
 */
import { ApiError } from './api';
import { h } from './dom';
import { t, type Key } from './i18n';
import { formatTime } from './time';

export type Action = 'cancel' | 'move' | 'remind' | 'load';

function retryAfter(value: string | null): string | null {
  if (!value) return null;
  const seconds = Number(value);
  const at = Number.isFinite(seconds) ? new Date(Date.now() + seconds * 1000) : new Date(value);
  return Number.isNaN(at.getTime()) ? null : formatTime(at.toISOString());
}

/** What a status means for this action, in the viewer's language. */
export function explanation(err: ApiError, action: Action): string {
  const s = err.status;
  if (s === 0) return t('problem.network');
  if (s === 409) return t(action === 'cancel' || action === 'move' || action === 'remind' ? (`problem.409.${action}` as Key) : 'problem.409');
  if (s === 429) {
    const after = retryAfter(err.retryAfter);
    return after ? t('problem.429', { after }) : t('problem.429.soon');
  }
  if (s === 400 || s === 401 || s === 404 || s === 413 || s === 422 || s === 503) return t(`problem.${s}` as Key);
  return t('problem.500');
}

export function problemView(err: unknown, action: Action): HTMLElement {
  if (!(err instanceof ApiError)) return h('div', { class: 'problem' }, h('p', null, t('problem.500')));
  const p = err.problem;
  return h(
    'div',
    { class: 'problem', 'data-status': err.status },
    h('p', { class: 'problem-what' }, h('strong', null, explanation(err, action))),
    err.status > 0 && h('p', { class: 'problem-title', lang: 'en' }, `${err.status} ${p?.title ?? ''}`.trim(), p?.detail && ': ', p?.detail),
    p?.errors?.length &&
      h(
        'div',
        null,
        h('p', null, t('problem.fields')),
        h('ul', { class: 'problem-errors', lang: 'en' }, ...p.errors.map((e) => h('li', null, h('code', null, e.path), ' ', e.message))),
      ),
  );
}
