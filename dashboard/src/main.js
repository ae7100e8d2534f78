// tinyfleet dashboard: sign-in, navigation (hash routes, so the gateway
// serves one page), and the live event stream shared by every view.
//
// Routes: #/ (fleet), #/devices/<id>, #/rollouts, #/rounds.
import './style.css';
import { api, LiveEvents, onUnauthorized, session } from './api.js';
import { clear, errorNote, h } from './dom.js';
import { enumText } from './format.js';
import { fleetView } from './views/fleet.js';
import { deviceView } from './views/device.js';
import { rolloutsView } from './views/rollouts.js';
import { roundsView } from './views/rounds.js';

const $ = (id) => document.getElementById(id);
const root = $('view');

let current = null; // the mounted view: {unmount(), onEvent(kind, event)}
let principal = null;

const live = new LiveEvents({
  onEvent: (kind, event) => current?.onEvent?.(kind, event),
  onState: (state) => {
    $('live').dataset.state = state;
    $('live-text').textContent =
      { live: 'live', connecting: 'connecting…', reconnecting: 'reconnecting…', off: 'offline' }[state] || state;
  },
});

function route() {
  const hash = location.hash.replace(/^#/, '') || '/';
  const parts = hash.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'devices' && parts[1]) return { name: 'fleet', view: deviceView, params: { id: parts[1] } };
  if (parts[0] === 'rollouts') return { name: 'rollouts', view: rolloutsView, params: {} };
  if (parts[0] === 'rounds') return { name: 'rounds', view: roundsView, params: {} };
  return { name: 'fleet', view: fleetView, params: {} };
}

function render() {
  if (current) current.unmount?.();
  current = null;
  clear(root);
  if (!principal) return showLogin();
  const r = route();
  for (const a of document.querySelectorAll('[data-nav]')) {
    a.classList.toggle('active', a.dataset.nav === r.name);
  }
  current = r.view(root, r.params, { principal });
}

function showChrome(signedIn) {
  $('nav').hidden = !signedIn;
  $('live').hidden = !signedIn;
  $('who').hidden = !signedIn;
  $('signout').hidden = !signedIn;
  if (signedIn) {
    $('who').textContent = `${principal.name} · ${enumText(principal.role)}`;
  }
}

function showLogin(message) {
  showChrome(false);
  clear(root);
  const input = h('input', {
    id: 'token',
    type: 'password',
    autocomplete: 'off',
    spellcheck: 'false',
    placeholder: 'tfo_…',
    required: true,
    'aria-label': 'Operator token',
  });
  const error = errorNote(message || '');
  error.id = 'login-error';
  const button = h('button', { type: 'submit' }, 'Sign in');
  const form = h(
    'form',
    {
      id: 'login-form',
      onsubmit: async (ev) => {
        ev.preventDefault();
        button.disabled = true;
        error.textContent = '';
        try {
          await signIn(input.value.trim());
        } catch (e) {
          error.textContent = e.unauthenticated
            ? 'This token was refused: ' + e.message
            : 'Cannot sign in: ' + e.message;
        } finally {
          button.disabled = false;
        }
      },
    },
    input,
    button,
  );
  root.append(
    h(
      'section',
      { class: 'login card' },
      h('h1', {}, 'Sign in'),
      h(
        'p',
        {},
        'Paste an operator token (any role: viewer, operator or admin). It is kept in this browser tab ' +
          'only and forgotten when the tab closes.',
      ),
      form,
      error,
    ),
  );
  input.focus();
}

async function signIn(token) {
  const who = await api.whoami(token);
  session.token = token;
  principal = who;
  showChrome(true);
  live.start();
  render();
}

function signOut(message) {
  session.token = '';
  principal = null;
  live.stop();
  if (current) current.unmount?.();
  current = null;
  showLogin(message);
}

onUnauthorized((e) => signOut('Signed out: ' + e.message));
$('signout').addEventListener('click', () => signOut());
window.addEventListener('hashchange', () => principal && render());

if (session.token) {
  signIn(session.token).catch((e) => {
    if (e.unauthenticated) signOut('Your saved token was refused: ' + e.message);
    else showLogin('Cannot reach the gateway: ' + e.message);
  });
} else {
  showLogin();
}
