/**
 * The activity view: the page shell (header, language switch, sign-out, refresh), the hash router
 * (`#/` the list, `#/tasks/<id>` a task) and the refresh loop (every 5 s while the tab is visible).
 */
import './app.css';
import { ApiError, session } from './api';
import { fill, h } from './dom';
import { currentLang, setLang, t, type Key } from './i18n';
import type { Shell, View } from './shell';
import { formatTime, offsetOf, zoneName } from './time';
import { listView } from './views/list';
import { signInView } from './views/signIn';
import { taskView } from './views/task';

const REFRESH_MS = 5000;

const root = document.getElementById('app') as HTMLElement;
const main = h('main', { id: 'main', tabindex: -1 });
const updatedAt = h('span', { class: 'updated' });
const autoRefresh = h('input', { type: 'checkbox', id: 'auto-refresh', checked: true });
const refreshControl = h('div', { class: 'refresh' }, h('label', null, autoRefresh, ' ', h('span', { 'data-t': 'autoRefresh' })), updatedAt);
const langButton = h('button', { type: 'button', class: 'secondary' });
const signOutButton = h('button', { type: 'button', class: 'secondary' });
const skip = h('a', { class: 'skip', href: '#main' });
const zoneLine = h('p');

let view: View | undefined;
let signInMessage: Key | undefined;
let lastUpdate: Date | undefined;
let timer: ReturnType<typeof setTimeout> | undefined;
let refreshing = false;

const shell: Shell = {
  main,
  unauthorized(err) {
    if (!(err instanceof ApiError) || err.status !== 401) return false;
    session.clear();
    signInMessage = 'signin.expired';
    shell.route();
    return true;
  },
  updated() {
    lastUpdate = new Date();
    updatedAt.textContent = t('updated', { time: formatTime(lastUpdate.toISOString()) });
  },
  route: () => route(),
};

function labels(): void {
  document.title = t('title');
  skip.textContent = t('skip');
  signOutButton.textContent = t('signOut');
  for (const el of document.querySelectorAll<HTMLElement>('[data-t]')) el.textContent = t(el.dataset.t as Key);
  const other = currentLang() === 'en' ? { lang: 'zh-CN', text: '中文' } : { lang: 'en', text: 'English' };
  langButton.textContent = other.text;
  langButton.lang = other.lang;
  const now = new Date();
  zoneLine.textContent = t('zone', { zone: zoneName(), offset: offsetOf(now) });
  if (lastUpdate) updatedAt.textContent = t('updated', { time: formatTime(lastUpdate.toISOString()) });
}

/** Render the current route; after a navigation, focus moves to the new page's heading (screen readers read where they are). */
function route(moveFocus = true): void {
  view?.dispose?.();
  view = undefined;
  const signedIn = session.key() !== null;
  signOutButton.hidden = !signedIn;
  refreshControl.hidden = !signedIn;
  if (!signedIn) {
    view = signInView(shell, signInMessage);
    signInMessage = undefined;
  } else {
    const m = /^#\/tasks\/([^/?#]+)/.exec(location.hash);
    view = m?.[1] ? taskView(shell, decodeURIComponent(m[1])) : listView(shell);
    if (moveFocus) main.querySelector<HTMLElement>('h1')?.focus();
  }
  labels();
  schedule();
}

/** One refresh at a time, 5 s after the last one ended; none while the tab is hidden or refresh is off. */
function schedule(): void {
  clearTimeout(timer);
  if (document.hidden || !autoRefresh.checked || !view?.refresh) return;
  timer = setTimeout(() => void refreshNow(), REFRESH_MS);
}

async function refreshNow(): Promise<void> {
  if (refreshing || !view?.refresh) return;
  refreshing = true;
  try {
    await view.refresh();
  } finally {
    refreshing = false;
    schedule();
  }
}

function start(): void {
  setLang(currentLang());
  langButton.addEventListener('click', () => {
    setLang(currentLang() === 'en' ? 'zh-CN' : 'en');
    route(false);
  });
  signOutButton.addEventListener('click', () => {
    session.clear();
    signInMessage = 'signin.signedOut';
    // Leave the task's address without a hashchange (which would route again and lose the message).
    history.replaceState(null, '', location.pathname + location.search);
    route();
  });
  skip.addEventListener('click', (e) => {
    e.preventDefault();
    main.focus();
  });
  autoRefresh.addEventListener('change', () => (autoRefresh.checked ? void refreshNow() : schedule()));
  document.addEventListener('visibilitychange', () => (document.hidden ? clearTimeout(timer) : void refreshNow()));
  // Only routes (`#/…`) navigate; any other fragment is left to the browser.
  window.addEventListener('hashchange', () => {
    if (location.hash === '' || location.hash.startsWith('#/')) route();
  });
  fill(
    root,
    skip,
    h(
      'header',
      { class: 'bar' },
      h('a', { class: 'brand', href: '#/' }, 'qunfa', h('span', { class: 'brand-sub', 'data-t': 'brand' })),
      h('div', { class: 'bar-tools' }, refreshControl, langButton, signOutButton),
    ),
    main,
    h('footer', null, zoneLine),
  );
  route();
}

start();
