// Warden approver console. Everything shown comes from the admin API and is put into
// the page as text (never as HTML): operation summaries and reasons are data an agent
// influenced. State-changing calls carry the console header (the server's CSRF check).
'use strict';

const CSRF = { 'x-warden-console': '1' };
const $ = (sel) => document.querySelector(sel);
let me = null;
let approvals = [];
let events = null;
// Body previews the approver opened, by approval id: {loading} or the API's answer.
// Kept across re-renders (every approvals event rebuilds the table).
const previews = new Map();

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') node.className = v;
    else if (k.startsWith('data-') || k.startsWith('aria-')) node.setAttribute(k, v);
    else if (k === 'onclick') node.addEventListener('click', v);
    else node[k] = v;
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

// Times arrive as RFC 3339 text.
function when(text) {
  if (!text) return '';
  const t = new Date(text);
  return Number.isNaN(t.getTime()) ? String(text) : t.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

async function api(path, options) {
  const response = await fetch(path, Object.assign({ credentials: 'same-origin', cache: 'no-store' }, options));
  let body = null;
  try { body = await response.json(); } catch (_) { body = null; }
  if (!response.ok) {
    const message = body && body.error ? body.error.message : `${response.status} ${response.statusText}`;
    const error = new Error(message);
    error.status = response.status;
    error.code = body && body.error ? body.error.code : '';
    throw error;
  }
  return body;
}

// ------------------------------------------------------------------ sign-in state
async function start() {
  document.querySelectorAll('#tabs button').forEach((b) => b.addEventListener('click', () => show(b.dataset.tab)));
  $('#logout').addEventListener('click', logout);
  $('#decision-cancel').addEventListener('click', () => $('#decision-dialog').close());
  $('#session-filter').addEventListener('submit', (e) => { e.preventDefault(); loadSessions(); });
  $('#replay-close').addEventListener('click', () => { $('#replay').hidden = true; });
  $('#audit-refresh').addEventListener('click', loadAudit);
  try {
    me = await api('/console/api/me');
  } catch (e) {
    $('#signed-out').hidden = false;
    return;
  }
  $('#user').textContent = `${me.subject} (${me.groups.join(', ') || 'no groups'})`;
  $('#logout').hidden = false;
  $('#tabs').hidden = false;
  show('holds');
  listen();
}

async function logout() {
  if (events) events.close();
  await fetch('/console/logout', { method: 'POST', headers: CSRF, credentials: 'same-origin' });
  window.location.assign('/console/');
}

function show(tab) {
  document.querySelectorAll('.tab').forEach((s) => { s.hidden = s.id !== tab; });
  document.querySelectorAll('#tabs button').forEach((b) => b.classList.toggle('active', b.dataset.tab === tab));
  if (tab === 'sessions') loadSessions();
  if (tab === 'audit') loadAudit();
}

// ------------------------------------------------------------------ live approvals
function listen() {
  events = new EventSource('/console/api/events');
  events.addEventListener('open', () => setLive(true));
  events.addEventListener('error', () => setLive(false));
  events.addEventListener('approvals', (e) => {
    approvals = JSON.parse(e.data).approvals;
    render();
  });
  events.addEventListener('signed-out', () => {
    events.close();
    setLive(false);
    window.location.assign('/console/');
  });
}

function setLive(on) {
  const badge = $('#live');
  badge.textContent = on ? 'live' : 'offline';
  badge.className = `badge ${on ? 'on' : 'off'}`;
}

function what(a) {
  const op = a.operation;
  return el('div', {},
    el('div', { class: 'summary' }, op.summary),
    el('div', { class: 'mono hint' }, `${op.method} ${op.host}${op.path}`));
}

function who(requester) {
  return el('div', {}, el('span', { class: 'requester' }, requester.subject), el('div', { class: 'hint' }, requester.kind || ''));
}

function why(a) {
  return el('div', {}, el('div', { class: 'reason' }, a.reason), el('code', { class: 'rule' }, a.rule));
}

function approversOf(a) {
  return a.votes.filter((v) => v.verdict === 'approve').map((v) => v.by.subject);
}

function mayDecide(a) {
  return me && me.groups.some((g) => a.rules.approver_groups.includes(g));
}

function render() {
  const now = Date.now();
  const pending = approvals.filter((a) => a.status === 'pending');
  for (const id of previews.keys()) if (!pending.some((a) => a.id === id)) previews.delete(id);
  const holds = $('#holds tbody');
  holds.replaceChildren(...pending.map((a) => el('tr', { 'data-id': a.id },
    el('td', {}, when(a.created_at), el('div', { class: 'mono hint' }, a.id)),
    el('td', {}, who(a.requester)),
    el('td', {}, what(a), previewToggle(a), previewBlock(a)),
    el('td', {}, why(a)),
    el('td', {}, `${approversOf(a).length} of ${a.rules.required}`),
    el('td', {}, when(a.expires_at)),
    el('td', {},
      mayDecide(a) ? el('button', { class: 'primary approve', onclick: () => decide(a, 'approve') }, 'Approve') : null, ' ',
      mayDecide(a) ? el('button', { class: 'danger deny', onclick: () => decide(a, 'deny') }, 'Deny') : el('span', { class: 'hint' }, 'yours / not an approver')))));
  $('#holds-empty').hidden = pending.length > 0;
  $('#holds-count').textContent = pending.length;

  const decided = approvals.filter((a) => a.status !== 'pending').slice(0, 20);
  $('#decided tbody').replaceChildren(...decided.map((a) => el('tr', { 'data-id': a.id },
    el('td', {}, when(a.decided_at || a.expired_at || a.created_at)),
    el('td', {}, a.requester.subject),
    el('td', {}, a.operation.summary),
    el('td', {}, el('code', {}, a.rule)),
    el('td', { class: `status status-${a.status}` }, a.status),
    el('td', {}, a.votes.map((v) => `${v.by.subject}: ${v.verdict}${v.justification ? ` (${v.justification})` : ''}`).join('; ')))));

  const grants = approvals.filter((a) => a.status === 'approved' && a.scope.type === 'grant' && (!a.valid_until || Date.parse(a.valid_until) > now));
  $('#grants tbody').replaceChildren(...grants.map((a) => el('tr', { 'data-id': a.id },
    el('td', {}, a.requester.subject),
    el('td', {}, el('code', {}, a.scope.scope)),
    el('td', {}, el('code', {}, a.rule)),
    el('td', {}, approversOf(a).join(', ')),
    el('td', {}, when(a.valid_until)),
    el('td', {}, mayDecide(a) ? el('button', { class: 'danger revoke', onclick: () => decide(a, 'revoke') }, 'Revoke') : null))));
  $('#grants-empty').hidden = grants.length > 0;
  $('#grants-count').textContent = grants.length;
}

// ------------------------------------------------------------------ body previews
// The held request's body as recorded (masked) in its session; shown as text only.
function previewToggle(a) {
  const open = previews.has(a.id);
  return el('button', {
    class: 'preview-toggle', type: 'button', 'aria-expanded': String(open),
    onclick: () => togglePreview(a.id),
  }, open ? 'Hide body' : 'Body');
}

function previewBlock(a) {
  if (!previews.has(a.id)) return null;
  const p = previews.get(a.id);
  const box = el('div', { class: 'preview', 'data-preview': a.id });
  if (p.loading) {
    box.append(el('div', { class: 'hint preview-note' }, 'loading…'));
  } else if (p.error) {
    box.append(el('div', { class: 'error preview-note' }, p.error));
  } else if (p.state === 'captured') {
    box.append(
      el('div', { class: 'hint' }, `${p.content_type || 'body'}, ${p.bytes} bytes, masked${p.truncated ? ' (first 2 KB shown)' : ''}`),
      el('pre', { class: 'preview-body' }, p.text));
  } else {
    box.setAttribute('data-state', p.state);
    box.append(el('div', { class: 'hint preview-note' }, p.note || p.state));
  }
  return box;
}

function togglePreview(id) {
  if (previews.has(id)) {
    previews.delete(id);
  } else {
    previews.set(id, { loading: true });
    loadPreview(id, 0);
  }
  render();
}

// The exchange is recorded moments after the hold: ask again while it is not there.
async function loadPreview(id, attempt) {
  let answer;
  try {
    answer = await api(`/console/api/holds/${encodeURIComponent(id)}/preview`);
  } catch (err) {
    answer = { error: err.message };
  }
  if (!previews.has(id)) return;
  if (answer.state === 'not_recorded' && attempt < 20) {
    previews.set(id, answer);
    render();
    setTimeout(() => { if (previews.has(id)) loadPreview(id, attempt + 1); }, 500);
    return;
  }
  previews.set(id, answer);
  render();
}

// ------------------------------------------------------------------ decisions
function decide(a, action) {
  const dialog = $('#decision-dialog');
  $('#decision-title').textContent = `${action[0].toUpperCase()}${action.slice(1)} ${a.id}`;
  const details = [
    ['Requested by', `${a.requester.subject} (${a.requester.kind || 'unknown kind'})`],
    ['Operation', a.operation.summary],
    ['Request', `${a.operation.method} ${a.operation.host}${a.operation.path}`],
    ['Rule', a.rule],
    ['Reason', a.reason],
    ['Scope', a.scope.type === 'grant' ? `grant ${a.scope.scope} for ${a.scope.duration_seconds}s` : 'this operation, once'],
    ['Approvals', `${approversOf(a).length} of ${a.rules.required}${a.rules.justification_required ? ', justification required' : ''}`],
  ];
  $('#decision-details').replaceChildren(...details.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
  $('#justification').value = '';
  const error = $('#decision-error');
  error.hidden = true;
  const confirm = $('#decision-confirm');
  confirm.textContent = action[0].toUpperCase() + action.slice(1);
  confirm.className = action === 'approve' ? 'primary' : 'danger';
  $('#decision-form').onsubmit = async (e) => {
    e.preventDefault();
    confirm.disabled = true;
    try {
      await api(`/v1/approvals/${encodeURIComponent(a.id)}/${action}`, {
        method: 'POST',
        headers: Object.assign({ 'content-type': 'application/json' }, CSRF),
        body: JSON.stringify({ justification: $('#justification').value }),
      });
      dialog.close();
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
    } finally {
      confirm.disabled = false;
    }
  };
  dialog.showModal();
}

// ------------------------------------------------------------------ sessions
async function loadSessions() {
  const params = new URLSearchParams();
  for (const name of ['identity', 'since', 'until']) {
    const value = $(`#filter-${name}`).value.trim();
    if (value) params.set(name, value);
  }
  const error = $('#sessions-error');
  try {
    const list = await api(`/v1/sessions?${params}`);
    error.hidden = true;
    $('#sessions-table tbody').replaceChildren(...list.sessions.map((s) => el('tr', { 'data-session': s.session_id },
      el('td', {}, el('a', { href: '#', class: 'mono open-session', onclick: (e) => { e.preventDefault(); openSession(s.session_id); } }, s.session_id)),
      el('td', {}, s.identities.join(', ')),
      el('td', {}, s.exchanges),
      el('td', {}, Object.entries(s.outcomes).map(([k, v]) => `${k}: ${v}`).join(', ')),
      el('td', {}, when(s.first_at)),
      el('td', {}, when(s.last_at)))));
  } catch (err) {
    error.textContent = err.message;
    error.hidden = false;
  }
}

function body(label, capture) {
  if (!capture || !capture.captured || capture.text === undefined || capture.text === null) return null;
  return el('details', {}, el('summary', {}, `${label} (${capture.content_type || 'body'}, ${capture.bytes} bytes, masked)`), el('pre', {}, capture.text));
}

async function openSession(id) {
  const error = $('#sessions-error');
  try {
    const view = await api(`/v1/sessions/${encodeURIComponent(id)}`);
    error.hidden = true;
    $('#replay-id').textContent = view.session_id;
    $('#timeline').replaceChildren(...view.exchanges.map((x) => {
      const r = x.record.record;
      const req = r.request || {};
      const d = r.decision || {};
      const c = x.capture || {};
      return el('li', { 'data-request': r.request_id },
        el('div', {}, el('span', { class: 'hint' }, r.started_at), ' ',
          el('span', { class: `outcome status-${d.outcome}` }, d.outcome), ' ',
          el('span', { class: 'mono' }, `${req.method || ''} ${req.authority || ''}${req.path || ''}`),
          r.response && r.response.status ? ` → ${r.response.status}` : ''),
        el('div', { class: 'hint' },
          `${r.identity ? r.identity.subject : 'anonymous'}`,
          d.rule ? ` · rule ${d.rule}` : '',
          d.reason ? ` · ${d.reason}` : '',
          r.approval ? ` · approval ${r.approval.id} (${r.approval.status})` : '',
          ` · seq ${x.record.seq}`),
        body('request body', c.request_body),
        body('response body', c.response_body));
    }));
    $('#replay').hidden = false;
    $('#replay').scrollIntoView();
  } catch (err) {
    error.textContent = err.message;
    error.hidden = false;
  }
}

// ------------------------------------------------------------------ audit
async function loadAudit() {
  const error = $('#audit-error');
  try {
    const s = await api('/console/api/audit');
    error.hidden = true;
    const v = s.verification;
    const rows = s.enabled ? [
      ['Writer', s.stopped ? 'STOPPED: nothing more is recorded' : 'running'],
      ['Last seq', s.last_seq],
      ['Last checkpoint covers seq', s.last_checkpoint_seq],
      ['Not yet signed', Math.max(0, s.last_seq - s.last_checkpoint_seq)],
      ['Records written (this process)', s.records_written],
      ['Checkpoints written (this process)', s.checkpoints_written],
      ['Output failures', s.output_failures],
      ['Local log', v ? (v.intact ? `verifies (${v.records} records, ${v.checkpoints} checkpoints, up to seq ${v.checked_seq})` : `DOES NOT VERIFY: ${v.problem || 'unknown problem'}`) : 'not checked'],
      ['Checked at', v ? when(v.checked_at) : ''],
    ] : [['Audit', 'audit.enabled is off: exchanges are not recorded']];
    $('#audit-status').replaceChildren(...rows.flatMap(([k, val]) => [el('dt', {}, k), el('dd', { 'data-field': k }, String(val))]));
  } catch (err) {
    error.textContent = err.message;
    error.hidden = false;
  }
}

start();
