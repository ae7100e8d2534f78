// tinyfleet dashboard: fleet overview over the gateway's JSON API.
// The operator token lives in sessionStorage and is sent as a bearer token.
'use strict';

const $ = (id) => document.getElementById(id);
let devices = [];
let timer = null;

function token() { return sessionStorage.getItem('tinyfleet.token') || ''; }

async function api(path) {
  const res = await fetch(path, { headers: { Authorization: 'Bearer ' + token() } });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    const err = new Error(body.message || res.statusText);
    err.status = res.status;
    throw err;
  }
  return body;
}

function show(signedIn) {
  $('login').hidden = signedIn;
  $('fleet').hidden = !signedIn;
  $('logout').hidden = !signedIn;
}

function text(tag, value, cls) {
  const el = document.createElement(tag);
  el.textContent = value;
  if (cls) el.className = cls;
  return el;
}

function render() {
  const q = $('search').value.trim().toLowerCase();
  const body = $('devices');
  body.replaceChildren();
  const shown = devices.filter((d) => {
    if (!q) return true;
    const labels = Object.entries(d.labels || {}).map(([k, v]) => k + '=' + v).join(' ');
    const hay = [d.device_id, labels, d.node?.firmware_version, d.node?.hardware_id]
      .join(' ').toLowerCase();
    return hay.includes(q);
  });
  for (const d of shown) {
    const tr = document.createElement('tr');
    tr.dataset.deviceId = d.device_id;
    tr.append(text('td', d.device_id, 'mono'));
    const online = d.connectivity === 'CONNECTIVITY_ONLINE';
    tr.append(text('td', online ? 'online' : 'offline', online ? 'online' : 'offline'));
    tr.append(text('td', (d.node?.target || '').replace('TARGET_PROFILE_', '').toLowerCase()));
    tr.append(text('td', d.node?.firmware_version || ''));
    const labels = document.createElement('td');
    for (const [k, v] of Object.entries(d.labels || {})) labels.append(text('span', k + '=' + v, 'label'));
    tr.append(labels);
    tr.append(text('td', d.last_seen_at ? new Date(d.last_seen_at).toLocaleString() : '—'));
    body.append(tr);
  }
  const online = devices.filter((d) => d.connectivity === 'CONNECTIVITY_ONLINE').length;
  $('summary').textContent = `${devices.length} devices · ${online} online`;
}

async function refresh() {
  try {
    const c = $('connectivity').value;
    const all = [];
    let page = '';
    do {
      const qs = new URLSearchParams({ page_size: '1000' });
      if (c) qs.set('connectivity', c);
      if (page) qs.set('page_token', page);
      const r = await api('/api/v1/devices?' + qs);
      all.push(...(r.devices || []));
      page = r.next_page_token || '';
    } while (page);
    devices = all;
    $('fleet-error').textContent = '';
    render();
  } catch (e) {
    if (e.status === 401) return signOut('Your token was refused: ' + e.message);
    $('fleet-error').textContent = 'Cannot load the fleet: ' + e.message;
  }
}

function signOut(message) {
  sessionStorage.removeItem('tinyfleet.token');
  clearInterval(timer);
  show(false);
  $('login-error').textContent = message || '';
}

async function signIn(t) {
  sessionStorage.setItem('tinyfleet.token', t);
  show(true);
  await refresh();
  clearInterval(timer);
  timer = setInterval(refresh, 5000);
}

$('login-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  signIn($('token').value.trim());
});
$('logout').addEventListener('click', () => signOut());
$('search').addEventListener('input', render);
$('connectivity').addEventListener('change', refresh);

if (token()) signIn(token()); else show(false);
