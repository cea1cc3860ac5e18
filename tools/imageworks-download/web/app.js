// app.js - the serve page: model list, architecture card, estimator, apply.
// Registry values are shown with textContent only (a name may hold anything).
'use strict';

const GIB = 1073741824;
const COLORS = { weights: '#2f5bd3', kv_cache: '#12a58b', state: '#7ccfbd', activations: '#f79009',
  non_torch: '#9e77ed', cuda_graphs: '#d444f1', compute: '#f79009', overhead: '#9e77ed', vision: '#ee46bc',
  base_overhead: '#667085', comm_buffers: '#98a2b3', fragmentation: '#d0d5dd' };

const state = { models: [], sortKey: 'name', sortDir: 1, selected: null, lastBody: null };

function token() { return sessionStorage.getItem('iw-token') || ''; }

// A token-protected server answers every request 401 until the page has the
// token.  The page starts several requests at once; only the first 401 asks
// (window.prompt blocks), the others see that the token changed meanwhile and
// retry with it.  A declined prompt is not asked again until a reload.
let tokenDeclined = false;

function askToken(used) {
  if (token() && token() !== used) return true;     // another request already asked
  if (tokenDeclined) return false;
  const t = window.prompt('This server needs its bearer token:');
  if (!t) { tokenDeclined = true; return false; }
  sessionStorage.setItem('iw-token', t);
  return true;
}

async function api(method, path, body) {
  for (let attempt = 0; attempt < 2; attempt++) {
    const used = token();
    const headers = {};
    if (used) headers.Authorization = 'Bearer ' + used;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    if (r.status === 401 && attempt === 0 && askToken(used)) continue;
    let data = null;
    try { data = await r.json(); } catch (e) { data = { error: 'not JSON (' + r.status + ')' }; }
    return { status: r.status, data };
  }
  return { status: 401, data: { error: 'missing or wrong bearer token' } };
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function gib(b) { return b == null ? '' : (b / GIB).toFixed(2); }
function human(n) {
  if (n == null) return '';
  if (n >= 1e9) return (n / 1e9).toFixed(n >= 1e11 ? 0 : 2) + 'B';
  if (n >= 1e6) return (n / 1e6).toFixed(1) + 'M';
  if (n >= 1e3) return (n / 1e3).toFixed(1) + 'k';
  return String(n);
}
function bytes(n) {
  if (n == null) return '';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return n.toFixed(i ? 1 : 0) + ' ' + u[i];
}
function ktok(n) { return n >= 1024 ? Math.floor(n / 1024) + 'k' : String(n); }
function plural(n, one, many) { return n + ' ' + (n === 1 ? one : many); }

// ---------------------------------------------------------------- list

function fillSelect(sel, values) {
  const keep = sel.value;
  while (sel.options.length > 1) sel.remove(1);
  [...new Set(values.filter(v => v))].sort().forEach(v => sel.add(new Option(v, v)));
  sel.value = keep;
}

function renderList() {
  const text = document.getElementById('f-text').value.toLowerCase();
  const fmt = document.getElementById('f-format').value;
  const q = document.getElementById('f-quant').value;
  const rows = state.models.filter(m => (!text || m.name.toLowerCase().includes(text)) &&
    (!fmt || m.format === fmt) && (!q || m.quantization === q));
  const k = state.sortKey, d = state.sortDir;
  rows.sort((a, b) => {
    const x = a[k], y = b[k];
    if (x == null && y == null) return 0;
    if (x == null) return 1;
    if (y == null) return -1;
    return (typeof x === 'number' ? x - y : String(x).localeCompare(String(y))) * d;
  });
  const tb = document.querySelector('#models tbody');
  const heads = [...document.querySelectorAll('#models thead th')];
  heads.forEach(th => { if (th.dataset.cls === undefined) th.dataset.cls = th.className; });
  tb.replaceChildren();
  for (const m of rows) {
    const tr = document.createElement('tr');
    tr.dataset.name = m.name;
    if (m.name === state.selected) tr.classList.add('selected');
    // each cell takes its header's classes (the narrow layouts hide columns by class)
    tr.append(el('td', m.name), el('td', m.backend), el('td', m.format), el('td', m.quantization),
      el('td', human(m.parameters)), el('td', m.context_length), el('td', bytes(m.size_bytes)),
      el('td', m.validated ? 'yes' : ''));
    [...tr.children].forEach((td, i) => { td.className = heads[i].dataset.cls; });
    tr.addEventListener('click', () => select(m.name));
    tb.append(tr);
  }
  document.getElementById('empty').hidden = rows.length > 0;
  document.querySelectorAll('#models th').forEach(th => {
    th.classList.toggle('sorted-asc', th.dataset.key === k && d > 0);
    th.classList.toggle('sorted-desc', th.dataset.key === k && d < 0);
  });
}

async function loadModels() {
  const r = await api('GET', '/models');
  const st = document.getElementById('status');
  if (r.status !== 200) { st.textContent = 'error: ' + (r.data && r.data.error); return; }
  state.models = r.data.models;
  st.textContent = r.data.count + ' model' + (r.data.count === 1 ? '' : 's');
  fillSelect(document.getElementById('f-format'), state.models.map(m => m.format));
  fillSelect(document.getElementById('f-quant'), state.models.map(m => m.quantization));
  renderList();
}

async function loadProfiles() {
  const r = await api('GET', '/profiles');
  if (r.status !== 200) return;
  const g = document.getElementById('est-gpu');
  for (const x of r.data.gpus) g.add(new Option(x.name + ' (' + x.memory_gib + ' GiB)', x.name));
  const p = document.getElementById('est-profile');
  for (const x of r.data.profiles) if (x.name !== 'default') p.add(new Option(x.name, x.name));
}

// ---------------------------------------------------------------- card

const CARD_FIELDS = [
  ['architecture', a => a.model_type || a.architecture],
  ['layers', a => a.num_layers], ['attention heads', a => a.num_attention_heads], ['KV heads', a => a.num_kv_heads],
  ['head_dim', a => a.head_dim], ['hidden', a => a.hidden_size], ['intermediate', a => a.intermediate_size],
  ['vocab', a => a.vocab_size], ['context', a => a.context_length], ['rope θ', a => a.rope_theta],
  ['dtype', a => a.torch_dtype], ['KV precision', a => a.kv_precision],
  ['attention', a => a.attention && [a.attention.type, a.attention.sliding_window ? 'window ' + a.attention.sliding_window : null].filter(Boolean).join(', ')],
  ['MoE', a => a.moe && a.moe.num_experts ? a.moe.num_experts + ' experts, ' + (a.moe.experts_per_token || '?') + ' per token' : null],
  ['vision', a => a.vision && (a.vision.num_layers || a.vision.hidden_size) ? (a.vision.num_layers || '?') + ' layers, hidden ' + (a.vision.hidden_size || '?') : null],
  ['quantization', a => a.quantization && (a.quantization.label || a.quantization.method)],
  ['parameters', a => a.parameters && a.parameters.total ? human(a.parameters.total) + ' (' + (a.parameters.source || '?') + ')' : null],
  ['weights', a => a.weights_bytes ? bytes(a.weights_bytes) : null],
  ['KV per token', a => a.kv_bytes_per_token ? a.kv_bytes_per_token + ' B' : null],
  ['validated', a => a.validated === true ? 'yes' + (a.validation_notes ? ' (' + a.validation_notes + ')' : '') : null],
];

function renderCard(entry) {
  const a = (entry.metadata && entry.metadata.architecture) || {};
  document.getElementById('card-title').textContent = entry.name;
  const dl = document.getElementById('card-fields');
  dl.replaceChildren();
  for (const [label, f] of CARD_FIELDS) {
    let v = null;
    try { v = f(a); } catch (e) { v = null; }
    if (v === null || v === undefined || v === '') continue;
    dl.append(el('dt', label), el('dd', v));
  }
  if (!dl.children.length) dl.append(el('dt', 'architecture'), el('dd', 'not recorded (run migrate-architecture)'));
  const src = document.querySelector('#card-sources tbody');
  src.replaceChildren();
  for (const [k, v] of Object.entries(a.field_sources || {})) {
    const tr = document.createElement('tr');
    tr.append(el('td', k), el('td', v));
    src.append(tr);
  }
  const w = document.getElementById('card-warnings');
  w.replaceChildren();
  for (const x of (a.warnings || [])) w.append(el('li', x));
  if (!w.children.length) w.append(el('li', 'none', 'muted'));
}

async function select(name) {
  state.selected = name;
  renderList();
  const r = await api('GET', '/models/' + encodeURIComponent(name));
  document.getElementById('detail-pane').hidden = false;
  document.getElementById('estimate-pane').hidden = false;
  document.getElementById('est-result').hidden = true;
  document.getElementById('apply-result').hidden = true;
  document.getElementById('est-error').hidden = true;
  document.getElementById('apply').disabled = true;
  if (r.status !== 200) { showError(r.data.error); return; }
  renderCard(r.data);
}

// ---------------------------------------------------------------- estimate

function formBody() {
  const v = id => document.getElementById(id).value.trim();
  const b = { model: state.selected };
  if (v('est-engine')) b.engine = v('est-engine');
  if (v('est-context')) b.context = parseInt(v('est-context'), 10);
  if (v('est-batch')) b.batch = parseInt(v('est-batch'), 10);
  if (v('est-kv')) b.kv_dtype = v('est-kv');
  if (v('est-tp') && v('est-tp') !== '1') b.tp = parseInt(v('est-tp'), 10);
  if (v('est-gpu')) b.gpu = v('est-gpu');
  else if (v('est-vram')) b.vram = v('est-vram');
  if (v('est-profile')) b.profile = v('est-profile');
  if (document.getElementById('est-calibrate').checked) b.calibrate = true;
  return b;
}

// The entry's measured starts (reconcile-architecture --engine-log): each
// figure measured / predicted / calibrated, then the correction and its source.
function renderCalibration(c) {
  const box = document.getElementById('est-calibration');
  box.replaceChildren();
  box.hidden = !c;
  if (!c) return;
  box.append(el('h3', 'Measured starts'));
  for (const s of c.starts || []) {
    const st = s.settings || {};
    const src = s.source || {};
    const file = (src.file || '').split('/').pop();
    const what = [s.engine, s.engine_version].filter(Boolean).join(' ');
    const set = Object.keys(st).filter(k => typeof st[k] !== 'object').map(k => k + ' ' + st[k]).join(', ');
    box.append(el('p', what + ' start of ' + (s.observed_at || '?') + ' (' + file + ':' + (src.line || '?') + '): ' + set +
      (s.error ? ' -- cannot predict: ' + s.error : ''), 'muted'));
    const mib = s.engine !== 'vllm';
    const fmt = (k, x) => x == null ? '' : /tokens|blocks/.test(k) ? String(x) : (x / (mib ? 1048576 : GIB)).toFixed(2) + (mib ? ' MiB' : ' GiB');
    const t = el('table');
    const h = document.createElement('tr');
    for (const x of ['figure', 'measured', 'predicted', 'calibrated']) h.append(el('th', x));
    t.append(h);
    for (const k of Object.keys(s.measured || {})) {
      const tr = document.createElement('tr');
      const p = (s.predicted || {})[k], q = (s.calibrated || {})[k];
      tr.append(el('td', k.replace(/_bytes$/, '')), el('td', fmt(k, s.measured[k]), 'num'),
        el('td', fmt(k, p), 'num'), el('td', fmt(k, q), 'num'));
      t.append(tr);
    }
    box.append(t);
  }
  const cor = c.correction;
  if (cor) {
    const parts = [];
    if (cor.activations_ratio != null) parts.push('activations x ' + cor.activations_ratio.toFixed(4));
    if (cor.non_torch_delta_bytes != null) parts.push('non_torch ' + (cor.non_torch_delta_bytes / 1048576).toFixed(1) + ' MiB');
    if (cor.cuda_graphs_ratio != null) parts.push('cuda_graphs x ' + cor.cuda_graphs_ratio.toFixed(4));
    if (cor.compute_ratio != null) parts.push('compute x ' + cor.compute_ratio.toFixed(4));
    if (cor.load_residual_bytes != null) parts.push('load_residual ' + (cor.load_residual_bytes / 1048576).toFixed(1) + ' MiB');
    box.append(el('p', 'calibrated: ' + parts.join('; ') + ' (from the ' + cor.source + ')'));
    if (cor.warning) box.append(el('p', 'warning: ' + cor.warning, 'muted'));
  } else if (c.note) {
    box.append(el('p', c.note, 'muted'));
  }
}

function showError(msg) {
  const e = document.getElementById('est-error');
  e.textContent = msg || 'error';
  e.hidden = false;
}

// The inverse answer in a sentence; with a budget it never asks for one.
function inverseText(d) {
  const vram = d.inputs && d.inputs.vram;
  const inv = d.inverse || {};
  const gpu = vram ? ' on a ' + (vram / GIB).toFixed(vram < GIB ? 2 : 0) + ' GiB GPU' : '';
  if (inv.max_context != null && vram) {
    if (inv.max_context <= 0) return 'nothing fits' + gpu;
    return 'fits ' + ktok(inv.max_context) + ' tokens at batch ' + inv.max_context_at_batch + gpu +
      (inv.max_batch != null ? '; ' + plural(inv.max_batch, 'sequence', 'sequences') + ' of ' +
        ktok(inv.max_batch_at_context) + ' tokens' : '');
  }
  if (vram || d.budget) {
    const w = (d.terms || []).find(t => t.name === 'weights');
    return 'total ' + gib(d.total) + ' GiB against a budget of ' + gib(d.budget) + ' GiB' +
      (w && d.budget && w.bytes > d.budget ? '; the weights alone need ' + gib(w.bytes) + ' GiB' : '');
  }
  return 'total ' + gib(d.total) + ' GiB (give a GPU or VRAM for what fits)';
}

// The verdict and its fixes as the CLI prints them (verdict.summary is the
// line after "verdict: "; each fix is change, total, fits or still over, and
// what it gives up).
function renderVerdict(v) {
  const vp = document.getElementById('verdict');
  const ft = document.getElementById('fixes');
  const ch = document.getElementById('cheapest');
  const tb = ft.querySelector('tbody');
  tb.replaceChildren();
  vp.className = '';
  vp.textContent = '';
  ft.hidden = true;
  ch.hidden = true;
  if (!v || v.fit === 'unknown') return;
  vp.className = v.fit === 'fits' ? 'fits' : v.fit === 'tight' ? 'tight' : 'nofit';
  vp.textContent = 'verdict: ' + v.summary;
  const fixes = v.fixes || [];
  for (const f of fixes) {
    const tr = document.createElement('tr');
    if (f.fits) tr.className = 'fits';
    tr.append(el('td', f.change), el('td', gib(f.total_bytes), 'num'), el('td', f.fits ? 'fits' : 'still over'),
      el('td', f.note));
    tb.append(tr);
  }
  ft.hidden = fixes.length === 0;
  if (fixes.length) {
    ch.hidden = false;
    ch.textContent = 'cheapest: ' + (v.cheapest || 'none of these fits');
  }
}

function renderEstimate(d) {
  document.getElementById('est-error').hidden = true;
  const res = document.getElementById('est-result');
  res.hidden = false;
  document.getElementById('inverse').textContent = inverseText(d);
  renderVerdict(d.verdict);
  // stacked bar over max(total, budget), with the budget marked
  const bar = document.getElementById('bar');
  bar.replaceChildren();
  const scale = Math.max(d.total || 0, d.budget || 0) || 1;
  for (const t of d.terms) {
    if (!t.bytes) continue;
    const s = el('div', null, 'seg');
    s.style.width = (100 * t.bytes / scale) + '%';
    s.style.background = COLORS[t.name] || '#98a2b3';
    s.title = t.name + ': ' + gib(t.bytes) + ' GiB';
    s.dataset.term = t.name;
    bar.append(s);
  }
  if (d.budget) {
    const m = el('div', null, 'budget');
    m.style.left = 'calc(' + (100 * d.budget / scale) + '% - 1px)';
    m.title = 'budget ' + gib(d.budget) + ' GiB';
    bar.append(m);
  }
  const tb = document.querySelector('#terms tbody');
  tb.replaceChildren();
  for (const t of d.terms) {
    const tr = document.createElement('tr');
    const name = el('td');
    const sw = el('span', null, 'swatch');
    sw.style.background = COLORS[t.name] || '#98a2b3';
    name.append(sw, document.createTextNode(t.name));
    tr.append(name, el('td', gib(t.bytes), 'num'), el('td', t.source, 'c-source'), el('td', t.formula));
    tb.append(tr);
  }
  const tot = document.createElement('tr');
  tot.append(el('td', 'total'), el('td', gib(d.total), 'num'), el('td', d.budget ? 'budget ' + gib(d.budget) + ' GiB' : ''), el('td', ''));
  tb.append(tot);
  const rec = d.recommended || {};
  const cap = rec.batch_cap;
  document.getElementById('recommended').textContent = (rec.args && rec.args.length ? 'recommended: ' + rec.args.join(' ') : '') +
    (cap ? '\nconcurrency capped at ' + cap.value + ' (memory allows ' + cap.memory_allows + '): ' + cap.reason : '');
  const w = document.getElementById('est-warnings');
  w.replaceChildren();
  for (const x of (d.warnings || [])) w.append(el('li', 'warning: ' + x, 'muted'));
  document.getElementById('apply').disabled = !(rec.args && rec.args.length);
  renderCalibration(d.calibration);
}

async function runEstimate(ev) {
  ev.preventDefault();
  if (!state.selected) return;
  const body = formBody();
  state.lastBody = body;
  document.getElementById('apply-result').hidden = true;
  const r = await api('POST', '/estimate', body);
  if (r.status !== 200) { document.getElementById('est-result').hidden = true; showError(r.data.error); return; }
  renderEstimate(r.data);
  if (r.data.error) showError(r.data.error);
}

async function applyEstimate() {
  if (!state.selected || !state.lastBody) return;
  const body = Object.assign({}, state.lastBody);
  delete body.model;
  const r = await api('POST', '/models/' + encodeURIComponent(state.selected) + '/apply', body);
  const p = document.getElementById('apply-result');
  p.hidden = false;
  if (r.status !== 200) { p.className = 'error'; p.textContent = 'not applied: ' + r.data.error; return; }
  p.className = '';
  const args = (r.data.recommended && r.data.recommended.args) || [];
  p.textContent = 'applied to ' + r.data.applied.entry + ': ' + args.join(' ');
  const e = await api('GET', '/models/' + encodeURIComponent(state.selected));
  if (e.status === 200) renderCard(e.data);
}

// ---------------------------------------------------------------- wiring

document.addEventListener('DOMContentLoaded', () => {
  document.querySelectorAll('#models th').forEach(th => th.addEventListener('click', () => {
    if (state.sortKey === th.dataset.key) state.sortDir = -state.sortDir;
    else { state.sortKey = th.dataset.key; state.sortDir = 1; }
    renderList();
  }));
  ['f-text', 'f-format', 'f-quant'].forEach(id => document.getElementById(id).addEventListener('input', renderList));
  document.getElementById('est-form').addEventListener('submit', runEstimate);
  document.getElementById('apply').addEventListener('click', applyEstimate);
  loadProfiles();
  loadModels();
});
