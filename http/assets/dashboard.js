// The dashboard's script, served as a file: the page's Content-Security-Policy
// allows no inline script or style. Everything shown is inserted with
// textContent: span names and audit fields never become HTML.
// Where the Prometheus text is read (the one place to change it).
const METRICS_URL = '/admin/metrics';
const params = new URLSearchParams(location.hash.slice(1));
let token = params.get('token') || sessionStorage.getItem('gh_token') || '';
const $ = (id) => document.getElementById(id);
function cell(tr, text) { const td = document.createElement('td'); td.textContent = text; tr.appendChild(td); return td; }
function row(tbody, values) { const tr = document.createElement('tr'); values.forEach(v => cell(tr, v)); tbody.appendChild(tr); return tr; }
async function api(path) {
  const r = await fetch(path, {headers: {Authorization: 'Bearer ' + token}});
  if (r.status === 401 || r.status === 403) { $('status').textContent = 'an admin access token is needed'; $('login').hidden = false; throw new Error('auth'); }
  return r;
}
function parseMetrics(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line[0] === '#') continue;
    const m = line.match(/^([a-zA-Z_:]+)(?:\{(.*)\})? ([^ ]+)$/);
    if (!m) continue;
    const labels = {};
    (m[2] || '').replace(/(\w+)="((?:[^"\\]|\\.)*)"/g, (_, k, v) => { labels[k] = v; });
    out.push({name: m[1], labels, value: Number(m[3])});
  }
  return out;
}
let previous = null, previousAt = 0;
async function refreshMetrics() {
  const r = await api(METRICS_URL);
  const samples = parseMetrics(await r.text());
  const now = Date.now(), routes = {};
  for (const s of samples) {
    const route = s.labels.route;
    if (!route) continue;
    routes[route] = routes[route] || {count: 0, sum: 0, n: 0};
    if (s.name === 'gatehouse_http_requests_total') routes[route].count += s.value;
    if (s.name === 'gatehouse_http_request_duration_seconds_sum') routes[route].sum += s.value;
    if (s.name === 'gatehouse_http_request_duration_seconds_count') routes[route].n += s.value;
  }
  const tbody = $('routes'); tbody.textContent = '';
  for (const [route, v] of Object.entries(routes).sort((a, b) => b[1].count - a[1].count)) {
    const before = previous && previous[route] ? previous[route].count : v.count;
    const rate = previous ? (v.count - before) / ((now - previousAt) / 1000) : 0;
    row(tbody, [route, rate.toFixed(1), v.n ? (1000 * v.sum / v.n).toFixed(2) : '-', String(v.count)]).dataset.route = route;
  }
  previous = routes; previousAt = now;
  const logins = $('logins'); logins.textContent = '';
  samples.filter(s => s.name === 'gatehouse_logins_total').forEach(s => row(logins, [s.labels.outcome, String(s.value)]));
  const internals = $('internals'); internals.textContent = '';
  const pick = (n) => (samples.find(s => s.name === n) || {value: 0}).value;
  row(internals, ['hashing queue', String(pick('gatehouse_hasher_queue_depth'))]);
  row(internals, ['store commits', String(pick('gatehouse_store_commits_total'))]);
  row(internals, ['audit records', String(pick('gatehouse_audit_records_total'))]);
  row(internals, ['resident memory (MiB)', (pick('gatehouse_process_resident_memory_bytes') / 1048576).toFixed(1)]);
}
async function refreshTraces() {
  const r = await api('/admin/traces?limit=300');
  const traces = (await r.json()).traces;
  // Cleared only once the answer is in: the box is never seen empty between two polls.
  const box = $('traces'); box.textContent = '';
  // The dashboard's own polling (GET /admin/…) is left out.
  const own = (t) => t.spans.some(s => s.name.startsWith('GET /admin/'));
  for (const t of traces.filter(t => !own(t)).slice(-8).reverse()) {
    const spans = t.spans, t0 = Math.min(...spans.map(s => s.start_ns));
    const total = Math.max(...spans.map(s => s.start_ns + s.duration_ms * 1e6)) - t0 || 1;
    const title = document.createElement('div');
    title.textContent = 'trace ' + t.trace_id;
    box.appendChild(title);
    for (const s of spans.sort((a, b) => a.start_ns - b.start_ns)) {
      const lane = document.createElement('div'); lane.className = 'wf';
      const bar = document.createElement('span');
      bar.style.left = (100 * (s.start_ns - t0) / total) + '%';
      bar.style.width = Math.max(0.5, 100 * s.duration_ms * 1e6 / total) + '%';
      bar.textContent = s.name + ' ' + s.duration_ms.toFixed(2) + ' ms';
      bar.className = 'span';
      lane.appendChild(bar); box.appendChild(lane);
    }
  }
}
let afterSeq = 0;
async function refreshAudit() {
  const r = await api('/admin/audit?limit=200&after=' + afterSeq);
  const body = await r.json(), tbody = $('audit');
  for (const e of body.events) {
    const tr = document.createElement('tr');
    [String(e.seq), new Date(e.time * 1000).toISOString(), e.type, e.subject_user_id, e.ip].forEach(v => cell(tr, v));
    tbody.insertBefore(tr, tbody.firstChild);
  }
  afterSeq = body.next_after;
}
async function tick() {
  try { await refreshMetrics(); await refreshTraces(); await refreshAudit(); $('status').textContent = ''; }
  catch (e) { if (e.message !== 'auth') $('status').textContent = 'cannot reach the server: ' + e.message; }
}
$('login').addEventListener('submit', (e) => { e.preventDefault(); token = $('tok').value.trim(); sessionStorage.setItem('gh_token', token); tick(); });
if (token) sessionStorage.setItem('gh_token', token);
tick(); setInterval(tick, 2000);
