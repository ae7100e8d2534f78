// The gateway's JSON API (/api/v1) as seen from the page: authenticated GETs
// and POSTs (operator actions), paging, and the live event stream.
//
// The operator token is kept in sessionStorage (this tab only; gone when the
// tab closes) and sent as `Authorization: Bearer …` on every request. The
// event stream cannot carry headers, so it is opened with a short-lived,
// single-use ticket that a bearer-authenticated request obtains first.

const TOKEN_KEY = 'tinyfleet.token';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }

  // The gateway does not offer this call (yet).
  get unimplemented() {
    return this.status === 501 || this.code === 'UNIMPLEMENTED';
  }

  get unauthenticated() {
    return this.status === 401;
  }
}

export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY) || '';
  },
  set token(value) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
};

// Listeners told when a request comes back 401 (token revoked or wrong).
const unauthorizedListeners = new Set();
export function onUnauthorized(fn) {
  unauthorizedListeners.add(fn);
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? '?' + s : '';
}

// GET `path` with `params` as the query string; resolves to the parsed body
// or rejects with an ApiError.
export function get(path, params, { token = session.token, signal } = {}) {
  return send('GET', path + query(params), undefined, { token, signal });
}

// POST `body` (an object, sent as JSON) to `path`; resolves to the parsed
// answer or rejects with an ApiError.
export function post(path, body, { token = session.token, signal } = {}) {
  return send('POST', path, body, { token, signal });
}

async function send(method, url, body, { token, signal }) {
  const headers = { Authorization: 'Bearer ' + token, Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      signal,
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'UNAVAILABLE', 'the gateway cannot be reached');
  }
  let answer = null;
  try {
    answer = await res.json();
  } catch {
    answer = null;
  }
  if (!res.ok) {
    const err = new ApiError(res.status, answer?.code || '', answer?.message || res.statusText);
    if (err.unauthenticated && token === session.token) {
      for (const fn of unauthorizedListeners) fn(err);
    }
    throw err;
  }
  return answer ?? {};
}

// Every item of a paged list call, following next_page_token.
export async function listAll(path, key, params = {}, { max = 100000 } = {}) {
  const items = [];
  let pageToken = '';
  do {
    const page = await get(path, { ...params, page_size: 1000, page_token: pageToken });
    items.push(...(page[key] || []));
    pageToken = page.next_page_token || '';
  } while (pageToken && items.length < max);
  return items;
}

export const api = {
  whoami: (token) => get('/api/v1/whoami', null, { token }),
  devices: (params) => listAll('/api/v1/devices', 'devices', params),
  deviceCount: (params) =>
    get('/api/v1/devices', { ...params, page_size: 1 }).then((r) => r.total_count || 0),
  device: (id) => get('/api/v1/devices/' + encodeURIComponent(id)),
  telemetry: (params, opts) => get('/api/v1/telemetry', params, opts),
  recentEvents: (params) => get('/api/v1/events/recent', params),
  models: () => listAll('/api/v1/models', 'models'),
  rollouts: () => listAll('/api/v1/rollouts', 'rollouts'),
  rounds: () => listAll('/api/v1/rounds', 'rounds'),
  // action: 'pause', 'resume' or 'abort'; resolves to the changed rollout.
  rolloutAction: (id, action, reason) =>
    post(`/api/v1/rollouts/${encodeURIComponent(id)}/${action}`, reason ? { reason } : {}),
};

// Whether `principal` (a whoami answer) may act, not only read.
export function canOperate(principal) {
  return principal?.role === 'ROLE_OPERATOR' || principal?.role === 'ROLE_ADMIN';
}

const EVENT_KINDS = ['device', 'rollout', 'round', 'model'];

// One live connection to /api/v1/events, reopened after errors with backoff.
// Calls onEvent(kind, event) for every event (kind "reset" when events were
// missed and views should reload) and onState(state) with "connecting",
// "live" or "reconnecting".
export class LiveEvents {
  constructor({ onEvent, onState }) {
    this.onEvent = onEvent;
    this.onState = onState;
    this.source = null;
    this.timer = null;
    this.lastSequence = 0;
    this.delay = 1000;
    this.stopped = true;
    // Bumped by start() and stop(), so that a ticket request or a retry
    // timer of an earlier run never opens a second stream.
    this.run = 0;
    // Whether a stream of this run has said hello.
    this.synced = false;
  }

  start() {
    if (!this.stopped) return; // already running
    this.stopped = false;
    this.run += 1;
    this.synced = false;
    this.lastSequence = 0;
    this.delay = 1000;
    this.open();
  }

  stop() {
    this.stopped = true;
    this.run += 1;
    clearTimeout(this.timer);
    if (this.source) this.source.close();
    this.source = null;
    this.onState('off');
  }

  async open() {
    if (this.stopped) return;
    const run = this.run;
    this.onState(this.synced ? 'reconnecting' : 'connecting');
    let ticket;
    try {
      ticket = (await get('/api/v1/events/ticket')).ticket;
    } catch (e) {
      if (run !== this.run) return;
      if (e.unauthenticated) return; // the app signs out
      return this.retry();
    }
    if (this.stopped || run !== this.run) return;
    const url =
      '/api/v1/events' +
      query({ ticket, after_sequence: this.synced ? this.lastSequence : undefined });
    const source = new EventSource(url);
    this.source = source;
    source.addEventListener('hello', (m) => {
      this.delay = 1000;
      const hello = JSON.parse(m.data);
      this.onState('live');
      if (!this.synced) {
        this.synced = true;
        // First connection of this run: views may have listed things before
        // the stream began, so whatever changed in between is re-read once.
        this.lastSequence = Number(hello.last_sequence || 0);
        this.onEvent('reset', { last_sequence: hello.last_sequence, reason: 'connected' });
      }
    });
    for (const kind of EVENT_KINDS) {
      source.addEventListener(kind, (m) => {
        const event = JSON.parse(m.data);
        this.lastSequence = Math.max(this.lastSequence, Number(event.sequence || 0));
        this.onEvent(kind, event);
      });
    }
    source.addEventListener('reset', (m) => {
      const info = JSON.parse(m.data);
      this.lastSequence = Number(info.last_sequence || 0);
      this.onEvent('reset', info);
    });
    // Any error (server gone, stream ended, ticket refused): the ticket is
    // spent, so close and open anew with a fresh one.
    source.onerror = () => {
      source.close();
      if (this.source === source) this.source = null;
      this.retry();
    };
  }

  retry() {
    if (this.stopped) return;
    this.onState('reconnecting');
    clearTimeout(this.timer);
    const jitter = Math.random() * 0.3 * this.delay;
    this.timer = setTimeout(() => this.open(), this.delay + jitter);
    this.delay = Math.min(this.delay * 2, 30000);
  }
}
