/** Sign-in: the key is tried against GET /v1/tasks before it is kept; a refused key stays here, said why. */
import { api, ApiError, session } from '../api';
import { fill, h } from '../dom';
import { t, type Key } from '../i18n';
import type { Shell, View } from '../shell';
import { problemView } from '../problems';
import { liveRegion } from '../ui';

export function signInView(shell: Shell, message?: Key): View {
  const input = h('input', {
    id: 'api-key',
    name: 'api-key',
    type: 'password',
    autocomplete: 'off',
    spellcheck: 'false',
    required: true,
    'aria-describedby': 'signin-intro',
  });
  const alert = liveRegion('alert');
  const status = liveRegion('status');
  const submit = h('button', { type: 'submit' }, t('signin.submit'));
  let disposed = false;

  // method=post: even were the script's handler missing, the key could not end up in a URL.
  const form = h(
    'form',
    { method: 'post', class: 'card signin', novalidate: true },
    h('p', { id: 'signin-intro' }, t('signin.intro')),
    h('div', { class: 'field' }, h('label', { for: 'api-key' }, t('signin.key')), input),
    submit,
    status,
    alert,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void (async () => {
      const key = input.value.trim();
      alert.show();
      if (!key) {
        alert.show(t('signin.empty'));
        input.focus();
        return;
      }
      submit.disabled = true;
      status.show(t('signin.checking'));
      try {
        await api('GET', '/v1/tasks?limit=1', { key });
        if (disposed) return;
        session.set(key);
        if (!location.hash.startsWith('#/')) history.replaceState(null, '', '#/');
        shell.route();
      } catch (err) {
        status.show();
        alert.show(err instanceof ApiError && err.status === 401 ? t('signin.refused') : problemView(err, 'load'));
        input.select();
        input.focus();
      } finally {
        submit.disabled = false;
      }
    })();
  });

  fill(shell.main, h('h1', { tabindex: -1 }, t('signin.title')), form);
  if (message) (message === 'signin.signedOut' ? status : alert).show(t(message));
  input.focus();
  return {
    dispose: () => {
      disposed = true;
    },
  };
}
