// Formatting of API values for display.

const ENUM_PREFIXES = [
  'CONNECTIVITY_',
  'DEVICE_LIFECYCLE_',
  'TARGET_PROFILE_',
  'SLOT_STATE_',
  'ROLLOUT_STATE_',
  'ROUND_STATE_',
  'ROUND_KIND_',
  'AGGREGATION_STRATEGY_',
  'ROLE_',
];

// "ROLLOUT_STATE_RUNNING" -> "running"; "" -> "".
export function enumText(value) {
  if (!value) return '';
  let s = String(value);
  for (const p of ENUM_PREFIXES) {
    if (s.startsWith(p)) {
      s = s.slice(p.length);
      break;
    }
  }
  return s.toLowerCase().replaceAll('_', ' ');
}

export function isOnline(device) {
  return device?.connectivity === 'CONNECTIVITY_ONLINE';
}

export function time(ts) {
  if (!ts) return '—';
  const d = new Date(ts);
  return Number.isNaN(d.getTime()) ? '—' : d.toLocaleString();
}

// "3 min ago", "in 2 s" (relative to now).
export function ago(ts) {
  if (!ts) return '—';
  const ms = Date.now() - new Date(ts).getTime();
  if (Number.isNaN(ms)) return '—';
  const s = Math.round(Math.abs(ms) / 1000);
  let text;
  if (s < 60) text = `${s} s`;
  else if (s < 3600) text = `${Math.round(s / 60)} min`;
  else if (s < 86400) text = `${Math.round(s / 3600)} h`;
  else text = `${Math.round(s / 86400)} d`;
  return ms >= 0 ? `${text} ago` : `in ${text}`;
}

export function percent(ratio, digits = 1) {
  if (ratio === undefined || ratio === null || Number.isNaN(Number(ratio))) return '—';
  return `${(Number(ratio) * 100).toFixed(digits)}%`;
}

export function bytes(n) {
  const v = Number(n || 0);
  if (v < 1024) return `${v} B`;
  if (v < 1024 * 1024) return `${(v / 1024).toFixed(1)} KiB`;
  return `${(v / 1024 / 1024).toFixed(1)} MiB`;
}

// A protobuf JSON Duration ("30s", "1.5s") as text.
export function duration(d) {
  if (!d) return '—';
  const s = parseFloat(d);
  if (Number.isNaN(s)) return String(d);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 3600)} h`;
}

// The slot the node runs, or undefined.
export function activeSlot(device) {
  const slots = device?.node?.slots || [];
  return (
    slots.find((s) => s.state === 'SLOT_STATE_ACTIVE') ||
    slots.find((s) => s.state === 'SLOT_STATE_PENDING_CONFIRM')
  );
}

// "kws:2" when the catalog knows the slot's model id, else "<id8>… v2",
// or "" for no model.
export function modelText(slot, modelsById) {
  if (!slot || !slot.model_id) return '';
  const known = modelsById?.get(`${slot.model_id}:${slot.model_version || 0}`);
  if (known) return known.ref;
  return `${slot.model_id.slice(0, 8)}… v${slot.model_version || 0}`;
}
