// Fleet overview: counts, versions, a fleet-wide inference chart and the
// device table with search and filters, kept current by device events.
import { api } from '../api.js';
import { timeChart } from '../chart.js';
import { clear, empty, errorNote, h, labelChips } from '../dom.js';
import { activeSlot, ago, enumText, isOnline, modelText } from '../format.js';

export function fleetView(root) {
  const devices = new Map(); // device id -> Device (active ones)
  let modelsById = new Map();
  let decommissioned = 0;
  let selector = '';
  let disposed = false;
  const pending = new Map(); // device id -> timer of a queued re-fetch
  let reloadTimer = null;

  const counts = {
    total: h('span', { id: 'count-total', class: 'big' }, '…'),
    online: h('span', { id: 'count-online', class: 'big online' }, '…'),
    offline: h('span', { id: 'count-offline', class: 'big offline' }, '…'),
    decommissioned: h('span', { id: 'count-decommissioned', class: 'big muted' }, '…'),
  };
  const firmware = h('ul', { id: 'firmware-versions', class: 'breakdown' });
  const models = h('ul', { id: 'model-versions', class: 'breakdown' });
  const search = h('input', {
    id: 'search',
    type: 'search',
    placeholder: 'Search id, label, firmware, hardware…',
    oninput: () => renderTable(),
  });
  const connectivity = h(
    'select',
    { id: 'connectivity', onchange: () => renderTable(), 'aria-label': 'Connectivity' },
    h('option', { value: '' }, 'online and offline'),
    h('option', { value: 'CONNECTIVITY_ONLINE' }, 'online only'),
    h('option', { value: 'CONNECTIVITY_OFFLINE' }, 'offline only'),
  );
  const selectorInput = h('input', {
    id: 'selector',
    type: 'text',
    placeholder: 'Label selector, e.g. site=lab,ring!=canary',
    onchange: () => {
      selector = selectorInput.value.trim();
      reload();
    },
  });
  const tbody = h('tbody', { id: 'devices' });
  const shown = h('span', { id: 'shown', class: 'muted' });
  const error = errorNote('');
  const chart = timeChart({
    title: 'Inferences per minute, whole fleet (last hour)',
    series: [{ label: 'inferences', unit: '/min' }],
    height: 160,
  });
  chart.el.id = 'fleet-chart';

  root.append(
    h(
      'div',
      { class: 'fleet' },
      h(
        'div',
        { class: 'cards' },
        card('Active devices', counts.total),
        card('Online', counts.online),
        card('Offline', counts.offline),
        card('Decommissioned', counts.decommissioned),
        h('div', { class: 'card wide' }, h('h3', {}, 'Firmware'), firmware),
        h('div', { class: 'card wide' }, h('h3', {}, 'Running models'), models),
      ),
      chart.el,
      h('div', { class: 'toolbar' }, search, connectivity, selectorInput, shown),
      error,
      h(
        'table',
        { class: 'devices' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['Device', 'State', 'Target', 'Firmware', 'Model', 'Labels', 'Last seen'].map((t) => h('th', {}, t)),
          ),
        ),
        tbody,
      ),
    ),
  );

  function card(title, value) {
    return h('div', { class: 'card' }, h('h3', {}, title), value);
  }

  function matches(d, q) {
    if (connectivity.value && d.connectivity !== connectivity.value) return false;
    if (!q) return true;
    const labels = Object.entries(d.labels || {}).map(([k, v]) => `${k}=${v}`);
    const hay = [
      d.device_id,
      ...labels,
      d.node?.firmware_version,
      d.node?.hardware_id,
      enumText(d.node?.target),
      modelText(activeSlot(d), modelsById),
    ]
      .join(' ')
      .toLowerCase();
    return q
      .split(/\s+/)
      .filter(Boolean)
      .every((term) => hay.includes(term));
  }

  function renderSummary() {
    const all = [...devices.values()];
    const online = all.filter(isOnline).length;
    counts.total.textContent = String(all.length);
    counts.online.textContent = String(online);
    counts.offline.textContent = String(all.length - online);
    counts.decommissioned.textContent = String(decommissioned);
    breakdown(firmware, all, (d) => d.node?.firmware_version || 'unknown');
    breakdown(models, all, (d) => modelText(activeSlot(d), modelsById) || 'no model');
  }

  function breakdown(list, all, keyOf) {
    const byKey = new Map();
    for (const d of all) byKey.set(keyOf(d), (byKey.get(keyOf(d)) || 0) + 1);
    clear(list);
    const entries = [...byKey.entries()].sort((a, b) => b[1] - a[1]);
    if (!entries.length) list.append(h('li', { class: 'muted' }, '—'));
    for (const [k, n] of entries.slice(0, 6)) {
      list.append(h('li', {}, h('span', { class: 'mono' }, k), h('span', { class: 'n' }, String(n))));
    }
    if (entries.length > 6) list.append(h('li', { class: 'muted' }, `+${entries.length - 6} more`));
  }

  function renderTable() {
    const q = search.value.trim().toLowerCase();
    const rows = [...devices.values()]
      .filter((d) => matches(d, q))
      .sort((a, b) => a.device_id.localeCompare(b.device_id));
    clear(tbody);
    for (const d of rows.slice(0, 2000)) tbody.append(row(d));
    shown.textContent =
      rows.length === devices.size
        ? `${devices.size} devices`
        : `${rows.length} of ${devices.size} devices`;
    if (rows.length > 2000) shown.textContent += ' (first 2000 shown; narrow the search)';
    if (!rows.length) {
      tbody.append(
        h('tr', {}, h('td', { colspan: 7 }, empty(devices.size ? 'No device matches.' : 'No devices enrolled yet.'))),
      );
    }
  }

  function row(d) {
    const online = isOnline(d);
    const href = '#/devices/' + encodeURIComponent(d.device_id);
    return h(
      'tr',
      { dataset: { deviceId: d.device_id, connectivity: online ? 'online' : 'offline' } },
      h('td', { class: 'mono' }, h('a', { href }, d.device_id)),
      h('td', {}, h('span', { class: 'state ' + (online ? 'online' : 'offline') }, online ? 'online' : 'offline')),
      h('td', {}, enumText(d.node?.target)),
      h('td', { class: 'mono' }, d.node?.firmware_version || ''),
      h('td', { class: 'mono' }, modelText(activeSlot(d), modelsById)),
      h('td', { class: 'labels' }, labelChips(d.labels)),
      h('td', { title: d.last_seen_at || '' }, online ? 'now' : ago(d.last_seen_at)),
    );
  }

  function render() {
    renderSummary();
    renderTable();
  }

  async function reload() {
    try {
      const params = { label_selector: selector };
      const [list, gone] = await Promise.all([
        api.devices(params),
        api.deviceCount({ ...params, lifecycle: 'DEVICE_LIFECYCLE_DECOMMISSIONED' }),
      ]);
      if (disposed) return;
      devices.clear();
      for (const d of list) devices.set(d.device_id, d);
      decommissioned = gone;
      error.textContent = '';
      render();
    } catch (e) {
      if (!disposed) error.textContent = 'Cannot load the fleet: ' + e.message;
    }
  }

  async function loadModels() {
    try {
      const list = await api.models();
      modelsById = new Map(list.map((m) => [`${m.model_id}:${m.blob_version || m.version}`, m]));
      if (!disposed) render();
    } catch {
      // Without the catalog, models show by id and version.
    }
  }

  async function loadChart() {
    const end = new Date();
    const start = new Date(end.getTime() - 3600e3);
    const span = { from: start.getTime() / 1000, to: end.getTime() / 1000 };
    try {
      const r = await api.telemetry({
        metric: 'inferences',
        aggregation: 'AGGREGATION_SUM',
        step: '60s',
        start: start.toISOString(),
        end: end.toISOString(),
        limit: 100,
      });
      if (disposed) return;
      const pts = r.points || [];
      chart.update([pts.map((p) => new Date(p.time).getTime() / 1000), pts.map((p) => p.value)], span);
    } catch {
      if (!disposed) chart.update([[], []], span);
    }
  }

  // Fetches one device again (labels or enrollment changed), coalescing
  // bursts of events for the same device.
  function refetch(id) {
    if (pending.has(id)) return;
    pending.set(
      id,
      setTimeout(async () => {
        pending.delete(id);
        try {
          const d = await api.device(id);
          if (disposed) return;
          if (d.lifecycle === 'DEVICE_LIFECYCLE_DECOMMISSIONED') devices.delete(id);
          else devices.set(id, d);
          render();
        } catch {
          // Gone or unreachable: the next reload settles it.
        }
      }, 150),
    );
  }

  function scheduleReload() {
    clearTimeout(reloadTimer);
    reloadTimer = setTimeout(reload, 300);
  }

  function onEvent(kind, event) {
    if (kind === 'reset') return scheduleReload();
    if (kind === 'model') return loadModels();
    if (kind !== 'device' || !event.device) return;
    const { device_id: id, change, device } = event.device;
    const known = devices.get(id);
    switch (change) {
      case 'online':
      case 'offline':
        if (known) {
          known.connectivity = device?.connectivity || known.connectivity;
          if (change === 'offline') known.last_seen_at = event.time;
          render();
        } else if (!selector) {
          refetch(id);
        }
        break;
      case 'decommissioned':
        if (devices.delete(id)) decommissioned += 1;
        render();
        break;
      case 'labels':
      case 'enrolled':
      default:
        // A selector may now include or exclude the device: ask the gateway.
        if (selector) scheduleReload();
        else refetch(id);
    }
  }

  reload();
  loadModels();
  loadChart();
  const chartTimer = setInterval(loadChart, 30000);
  // A safety net: live events keep the table current; a full reload every
  // minute repairs anything missed while disconnected.
  const reloadEvery = setInterval(reload, 60000);

  return {
    onEvent,
    unmount() {
      disposed = true;
      clearInterval(chartTimer);
      clearInterval(reloadEvery);
      clearTimeout(reloadTimer);
      for (const t of pending.values()) clearTimeout(t);
      chart.destroy();
    },
  };
}
