// Experiments (API.md § Experiments): the list with a create form, and one experiment's page —
// progress, the leaderboard as a table and a chart (mean score and its 95 % interval per
// variant), the per-item results side by side per variant, and cancel / evolve / delete.
// Polled while it runs; everything shown is text from the API (agents' answers included).

import { h, put, alertBox, badge, ago, when, ask, field, s, fmtNumber } from './dom.js';
import { get, post, del, enc } from './api.js';

const MOVING = ['queued', 'running'];

/// `exact`, `numeric (MAE)`, `jsonField a.b`, `llmJudge`.
function scorerText(sc) {
  if (sc.type === 'numeric') return `numeric (${(sc.metric || 'mae').toUpperCase()})`;
  if (sc.type === 'jsonField') return `jsonField ${sc.field}`;
  return sc.type;
}

const lowerIsBetter = (sc) => sc.type === 'numeric';

function fmtScore(v) {
  if (v === null || v === undefined) return '—';
  return Math.abs(v) >= 1000 ? fmtNumber(Math.round(v)) : String(Number(v.toFixed(3)));
}

function fmtMs(v) {
  if (v === null || v === undefined) return '—';
  return v >= 1000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`;
}

export async function experimentsPage(ctx) {
  const errors = h('div');
  const tbody = h('tbody');
  const form = await createForm(ctx, errors);
  put(ctx.main,
    h('h1', {}, 'Experiments'),
    h('p', { class: 'muted' }, 'Send a dataset to several variants (instances), score every answer, and rank them. The Operator agent runs these too: "deploy 3 variants of … and score them on …".'),
    form, errors,
    h('div', { class: 'table-wrap' }, h('table', { class: 'list' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Status'), h('th', {}, 'Scorer'),
        h('th', {}, 'Variants'), h('th', { class: 'wide' }, 'Items'), h('th', { class: 'wide' }, 'Created'))),
      tbody)));
  const refresh = async () => {
    const { experiments } = await get('/api/experiments?limit=200', { signal: ctx.signal });
    put(tbody, experiments.length
      ? experiments.map((e) => h('tr', { 'data-experiment-id': e.id },
        h('td', {}, h('a', { href: `/experiments/${enc(e.id)}` }, e.name)),
        h('td', {}, badge(e.status), MOVING.includes(e.status) ? h('span', { class: 'spinner', 'aria-hidden': 'true' }) : null),
        h('td', {}, scorerText(e.scorer)),
        h('td', {}, String(e.instanceIds.length)),
        h('td', { class: 'wide' }, fmtNumber(e.itemCount)),
        h('td', { class: 'wide' }, ago(e.createdAt))))
      : h('tr', {}, h('td', { colspan: 6, class: 'muted' }, 'No experiments yet. Start one above, or ask the Operator in Chat.')));
    return experiments.some((e) => MOVING.includes(e.status)) ? 2000 : 8000;
  };
  await refresh();
  ctx.every(4000, refresh);
}

/// The create form: variants to compare, the dataset (JSON lines, a workspace file or a URL),
/// the scorer and its option, the concurrency.
async function createForm(ctx, errors) {
  const { instances } = await get('/api/instances?limit=200', { signal: ctx.signal });
  const name = h('input', { required: true, maxlength: 100, autocomplete: 'off', placeholder: 'aqi-strategies' });
  const variants = h('fieldset', { class: 'variants' }, h('legend', {}, 'Variants'),
    instances.length
      ? [...instances].sort((a, b) => a.name.localeCompare(b.name)).map((i) => h('label', { class: 'check-label' }, h('input', { type: 'checkbox', value: i.id, name: 'variant', 'aria-label': i.name }), ' ', i.name, ' ', badge(i.status)))
      : h('p', { class: 'muted small' }, 'No instances yet: create some under Instances first.'));
  const source = h('select', {},
    h('option', { value: 'items' }, 'Inline (JSON lines)'),
    h('option', { value: 'file' }, 'A file in an instance’s workspace'),
    h('option', { value: 'url' }, 'A URL'));
  const items = h('textarea', { rows: 4, class: 'mono', spellcheck: 'false', placeholder: '{"input": "What is 2+2?", "expected": "4"}\n{"input": "Capital of France?", "expected": "Paris"}' });
  const fileInstance = h('select', {}, instances.map((i) => h('option', { value: i.id }, i.name)));
  const filePath = h('input', { autocomplete: 'off', placeholder: 'data/last-week.jsonl', class: 'mono' });
  const url = h('input', { type: 'url', autocomplete: 'off', placeholder: 'https://example.com/items.jsonl' });
  const inline = field('Items', items, 'one JSON object per line: "input", and "expected" for the scorers that compare');
  const fromFile = h('div', { class: 'inline-form' }, field('Instance', fileInstance), field('Path (.jsonl or .csv)', filePath));
  const fromUrl = field('URL (JSONL or CSV)', url);
  const scorer = h('select', {}, ['exact', 'contains', 'numeric', 'jsonField', 'llmJudge'].map((t) => h('option', { value: t }, t)));
  const metric = h('select', {}, h('option', { value: 'mae' }, 'MAE'), h('option', { value: 'rmse' }, 'RMSE'));
  const jsonPath = h('input', { autocomplete: 'off', placeholder: 'forecast.aqi', class: 'mono' });
  const rubric = h('textarea', { rows: 2, placeholder: 'Is the answer complete, correct and concise?' });
  const opts = { numeric: field('Metric', metric, 'lower is better'), jsonField: field('Field', jsonPath, 'a dotted path into the JSON answer'), llmJudge: field('Rubric', rubric, 'the platform’s model grades each answer 0–1 with a reason') };
  const concurrency = h('input', { type: 'number', min: 1, max: 16, value: 4 });
  const submit = h('button', { type: 'submit' }, 'Start experiment');
  const show = () => {
    inline.hidden = source.value !== 'items';
    fromFile.hidden = source.value !== 'file';
    fromUrl.hidden = source.value !== 'url';
    for (const [k, el] of Object.entries(opts)) el.hidden = scorer.value !== k;
  };
  source.addEventListener('change', show);
  scorer.addEventListener('change', show);
  show();
  const form = h('details', { class: 'card new-experiment' }, h('summary', {}, h('strong', {}, 'New experiment')),
    h('form', { 'aria-label': 'New experiment' },
      h('div', { class: 'inline-form' }, field('Name', name), field('Concurrency', concurrency, 'answers in flight at once, 1–16')),
      variants,
      h('div', { class: 'inline-form' }, field('Dataset', source), field('Scorer', scorer), ...Object.values(opts)),
      inline, fromFile, fromUrl, submit));
  form.querySelector('form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    put(errors);
    let dataset;
    try {
      dataset = datasetOf(source.value, items.value, fileInstance.value, filePath.value.trim(), url.value.trim());
    } catch (e) {
      errors.append(alertBox(e));
      return;
    }
    const sc = { type: scorer.value };
    if (sc.type === 'numeric') sc.metric = metric.value;
    if (sc.type === 'jsonField') sc.field = jsonPath.value.trim();
    if (sc.type === 'llmJudge') sc.rubric = rubric.value.trim();
    const body = {
      name: name.value.trim(),
      instanceIds: [...variants.querySelectorAll('input[name="variant"]:checked')].map((c) => c.value),
      dataset, scorer: sc, concurrency: Number(concurrency.value) || 4,
    };
    submit.disabled = true;
    try {
      const { experiment } = await post('/api/experiments', body);
      ctx.go(`/experiments/${enc(experiment.id)}`);
    } catch (e) {
      errors.append(alertBox(e));
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

/// The dataset body; inline lines are parsed here so a bad line is named before sending.
function datasetOf(kind, text, instanceId, path, url) {
  if (kind === 'file') return { file: { instanceId, path } };
  if (kind === 'url') return { url };
  const parsed = [];
  text.split('\n').forEach((line, n) => {
    if (!line.trim()) return;
    let v;
    try { v = JSON.parse(line); } catch { throw new Error(`Items line ${n + 1} is not JSON.`); }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`Items line ${n + 1} is not a JSON object.`);
    parsed.push(v);
  });
  return { items: parsed };
}

export async function experimentPage(ctx) {
  const [id] = ctx.params;
  const head = h('div');
  const errors = h('div');
  const board = h('section', { class: 'card', 'aria-labelledby': 'lb-title' });
  const results = h('section', { class: 'card', 'aria-labelledby': 'results-title' });
  const note = h('div');
  put(ctx.main, h('p', { class: 'crumbs' }, h('a', { href: '/experiments' }, 'Experiments')), head, errors, note, board, results);
  const evolved = new URLSearchParams(location.search).get('evolved');
  if (evolved) note.append(h('p', { class: 'ok', role: 'status' }, evolved));
  const res = resultsPanel(ctx, id, results);
  let last = null;
  const act = async (f) => {
    put(errors);
    try { await f(); } catch (e) { errors.append(alertBox(e)); }
    try { await refresh(); } catch (e) { if (e.name !== 'AbortError') errors.append(alertBox(e)); }
  };
  const refresh = async () => {
    const { experiment: e } = await get(`/api/experiments/${enc(id)}`, { signal: ctx.signal });
    const changed = !last || last.status !== e.status || last.progress.done !== e.progress.done;
    last = e;
    const moving = MOVING.includes(e.status);
    const pct = e.progress.total ? Math.round((100 * e.progress.done) / e.progress.total) : 0;
    put(head,
      h('div', { class: 'row' }, h('h1', {}, e.name), badge(e.status), moving ? h('span', { class: 'spinner', 'aria-hidden': 'true' }) : null,
        h('div', { class: 'actions grow' },
          moving ? h('button', { type: 'button', class: 'secondary', onclick: () => act(async () => {
            if (await ask(`Cancel ${e.name}? Items not yet sent are not sent; finished results stay.`, [], 'Yes, cancel it')) await post(`/api/experiments/${enc(id)}/cancel`);
          }) }, 'Cancel experiment') : null,
          e.status === 'succeeded' ? h('button', { type: 'button', onclick: () => evolve(ctx, e, errors, note) }, 'Evolve…') : null,
          h('button', { type: 'button', class: 'danger', onclick: async () => {
            put(errors);
            if (!(await ask(`Delete ${e.name} and its results? The variants (instances) stay.`, [], 'Delete'))) return;
            try {
              await del(`/api/experiments/${enc(id)}`);
              ctx.go('/experiments', true);
            } catch (err) {
              errors.append(alertBox(err));
            }
          } }, 'Delete'))),
      h('dl', { class: 'facts' },
        h('dt', {}, 'Scorer'), h('dd', {}, scorerText(e.scorer), e.scorer.rubric ? h('div', { class: 'muted small' }, e.scorer.rubric) : null),
        h('dt', {}, 'Dataset'), h('dd', {}, `${fmtNumber(e.itemCount)} item${e.itemCount === 1 ? '' : 's'} × ${e.instanceIds.length} variant${e.instanceIds.length === 1 ? '' : 's'}`),
        h('dt', {}, 'Concurrency'), h('dd', {}, String(e.concurrency)),
        h('dt', {}, 'Started'), h('dd', {}, when(e.createdAt)),
        e.finishedAt ? [h('dt', {}, 'Finished'), h('dd', {}, when(e.finishedAt))] : null,
        e.error ? [h('dt', {}, 'Error'), h('dd', { class: 'bad' }, e.error)] : null),
      h('div', { class: 'progress-row' },
        h('progress', { max: e.progress.total || 1, value: e.progress.done, 'aria-label': 'Answers scored' }),
        h('span', { class: 'muted', role: 'status' }, `${fmtNumber(e.progress.done)} of ${fmtNumber(e.progress.total)} answers (${pct}%)`)));
    // the chart is drawn at the panel's width, so its text stays legible on a phone
    put(board, ...leaderboard(e, Math.max(300, Math.min(760, board.clientWidth - 32))));
    if (changed) await res.reload(e);
    return moving ? 1500 : 10000;
  };
  await refresh();
  ctx.every(1500, refresh);
}

/// The leaderboard: a table (best first, as the API sorts it) and a chart of each variant's
/// mean score with its 95 % interval.
function leaderboard(e, width) {
  const rows = e.leaderboard;
  const lower = lowerIsBetter(e.scorer);
  const title = h('h2', { id: 'lb-title' }, 'Leaderboard');
  if (!rows.length) return [title, h('p', { class: 'muted' }, 'No answers scored yet.')];
  const table = h('div', { class: 'table-wrap' }, h('table', { class: 'list leaderboard' },
    h('thead', {}, h('tr', {}, h('th', {}, '#'), h('th', {}, 'Variant'), h('th', {}, lower ? `${(e.scorer.metric || 'mae').toUpperCase()} (lower is better)` : 'Score'),
      h('th', {}, '95 % interval'), h('th', {}, 'Scored'), h('th', {}, 'Errors'), h('th', { class: 'wide' }, 'Mean latency'))),
    h('tbody', {}, rows.map((r, i) => h('tr', { 'data-instance-id': r.instanceId, class: i === 0 && r.score !== null ? 'best' : null },
      h('td', {}, String(i + 1)),
      h('td', {}, h('a', { href: `/instances/${enc(r.instanceId)}` }, r.instanceName)),
      h('td', { class: 'num' }, fmtScore(r.score)),
      h('td', { class: 'num' }, r.ci95 ? `${fmtScore(r.ci95[0])} – ${fmtScore(r.ci95[1])}` : '—'),
      h('td', { class: 'num' }, fmtNumber(r.scored)),
      h('td', { class: 'num' }, r.errors ? h('span', { class: 'bad' }, fmtNumber(r.errors)) : '0'),
      h('td', { class: 'num wide' }, fmtMs(r.meanLatencyMs)))))));
  return [title, table, rows.some((r) => r.score !== null) ? scoreChart(e, width) : null];
}

/// One bar per variant from 0 to its mean score, a whisker over its 95 % interval. 0–1
/// scorers share a 0–1 axis; `numeric` errors one from 0 to the largest upper bound.
function scoreChart(e, width) {
  const rows = e.leaderboard;
  const lower = lowerIsBetter(e.scorer);
  const W = width || 640;
  const L = Math.min(150, Math.round(W * 0.3)); // variant names
  const R = 56; // the value at the bar's end
  const row = 28;
  const H = rows.length * row + 24;
  const top = lower ? Math.max(...rows.map((r) => (r.ci95 ? r.ci95[1] : r.score || 0)), 0) * 1.1 || 1 : 1;
  const x = (v) => L + ((W - L - R) * Math.max(0, Math.min(v, top))) / top;
  const label = `Mean ${lower ? 'error' : 'score'} per variant with its 95 % interval${lower ? ', lower is better' : ''}`;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': label, class: 'chart score-chart' });
  svg.append(s('title', {}, label));
  rows.forEach((r, i) => {
    const y = i * row + 4;
    const fit = Math.floor(L / 7);
    const name = r.instanceName.length > fit ? `${r.instanceName.slice(0, fit - 1)}…` : r.instanceName;
    svg.append(s('text', { x: L - 8, y: y + 15, 'text-anchor': 'end' }, name));
    if (r.score === null) {
      svg.append(s('text', { x: L + 4, y: y + 15, class: 'muted' }, r.errors ? `${r.errors} errors, no score` : 'no score yet'));
      return;
    }
    const tip = `${r.instanceName}: ${fmtScore(r.score)}${r.ci95 ? ` (95 % ${fmtScore(r.ci95[0])}–${fmtScore(r.ci95[1])})` : ''}, ${r.scored} scored, ${r.errors} errors`;
    svg.append(s('rect', { x: L, y: y + 3, width: Math.max(1, x(r.score) - L), height: row - 10, rx: 3, class: i === 0 ? 'bar best' : 'bar' }, s('title', {}, tip)));
    if (r.ci95) {
      const [lo, hi] = r.ci95.map(x);
      const mid = y + 3 + (row - 10) / 2;
      svg.append(s('line', { x1: lo, x2: hi, y1: mid, y2: mid, class: 'whisker' }),
        s('line', { x1: lo, x2: lo, y1: mid - 5, y2: mid + 5, class: 'whisker' }),
        s('line', { x1: hi, x2: hi, y1: mid - 5, y2: mid + 5, class: 'whisker' }));
    }
    svg.append(s('text', { x: W - R + 6, y: y + 15 }, fmtScore(r.score)));
  });
  const base = rows.length * row + 6;
  svg.append(s('line', { x1: L, x2: W - R, y1: base, y2: base, class: 'axis' }),
    s('text', { x: L, y: base + 14, class: 'muted' }, '0'),
    s('text', { x: W - R, y: base + 14, 'text-anchor': 'end', class: 'muted' }, fmtScore(top)));
  return h('figure', { class: 'score-figure' }, svg, h('figcaption', { class: 'muted small' }, label, '. Bars are means over scored items; whiskers show where the mean would likely fall on more data.'));
}

/// The per-item results: one row per item, one column per variant (or one variant's only),
/// paged by the API's cursor ("Load more").
function resultsPanel(ctx, id, section) {
  const filter = h('select', { 'aria-label': 'Variant', class: 'narrow-select' });
  const tbody = h('tbody');
  const thead = h('thead');
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Load more');
  let byItem = new Map();
  let cursor = null;
  let exp = null;
  let pages = 0;
  put(section,
    h('div', { class: 'row' }, h('h2', { id: 'results-title' }, 'Results'), h('div', { class: 'grow' }), filter),
    h('div', { class: 'table-wrap' }, h('table', { class: 'list results' }, thead, tbody)),
    h('div', { class: 'actions' }, more));
  const names = () => new Map(exp.leaderboard.map((r) => [r.instanceId, r.instanceName]));
  const columns = () => (filter.value ? [filter.value] : exp.instanceIds);
  const cell = (r) => {
    if (!r) return h('td', { class: 'muted' }, '…');
    const score = r.error
      ? h('span', { class: 'badge failed', title: r.error }, 'error')
      : h('span', { class: 'score' }, fmtScore(r.score));
    return h('td', { 'data-instance-id': r.instanceId },
      h('div', { class: 'answer' }, r.output ?? ''),
      h('div', { class: 'small' }, score, r.latencyMs !== null ? h('span', { class: 'muted' }, ` · ${fmtMs(r.latencyMs)}`) : null),
      r.reason ? h('div', { class: 'muted small' }, r.reason) : null,
      r.error ? h('div', { class: 'bad small' }, r.error) : null);
  };
  const draw = () => {
    const n = names();
    put(thead, h('tr', {}, h('th', {}, '#'), h('th', {}, 'Input'), h('th', { class: 'wide' }, 'Expected'),
      columns().map((c) => h('th', {}, n.get(c) || c))));
    const items = [...byItem.entries()].sort((a, b) => a[0] - b[0]);
    put(tbody, items.length
      ? items.map(([idx, it]) => h('tr', { 'data-item': idx },
        h('td', {}, String(idx + 1)),
        h('td', {}, h('div', { class: 'answer' }, it.input)),
        h('td', { class: 'wide' }, it.expected === null || it.expected === undefined ? h('span', { class: 'muted' }, '—') : h('code', {}, typeof it.expected === 'string' ? it.expected : JSON.stringify(it.expected))),
        columns().map((c) => cell(it.by.get(c)))))
      : h('tr', {}, h('td', { colspan: 3 + columns().length, class: 'muted' }, MOVING.includes(exp.status) ? 'No answers yet.' : 'No answers.')));
    more.hidden = !cursor;
  };
  const load = async () => {
    const q = new URLSearchParams({ limit: '200' });
    if (cursor) q.set('cursor', cursor);
    if (filter.value) q.set('instanceId', filter.value);
    const page = await get(`/api/experiments/${enc(id)}/results?${q}`, { signal: ctx.signal });
    for (const r of page.results) {
      if (!byItem.has(r.itemIndex)) byItem.set(r.itemIndex, { input: r.input, expected: r.expected, by: new Map() });
      byItem.get(r.itemIndex).by.set(r.instanceId, r);
    }
    cursor = page.nextCursor;
    pages += 1;
    draw();
  };
  const restart = async () => {
    byItem = new Map();
    cursor = null;
    pages = 0;
    await load();
  };
  more.addEventListener('click', async () => {
    more.disabled = true;
    try { await load(); } catch (e) { section.append(alertBox(e)); } finally { more.disabled = false; }
  });
  filter.addEventListener('change', () => restart().catch((e) => section.append(alertBox(e))));
  return {
    /// Called when the experiment changed: the variant choices and, unless the user paged
    /// further, the first page again.
    async reload(e) {
      const first = !exp;
      exp = e;
      if (first) {
        const n = names();
        put(filter, h('option', { value: '' }, 'All variants'), e.instanceIds.map((i) => h('option', { value: i }, n.get(i) || i)));
      }
      if (pages <= 1) await restart();
    },
  };
}

/// Keeps the best `keep`, has the model mutate their skills back up to `populationSize`, and
/// runs the same dataset on the new generation (which can take a minute: new variants start).
async function evolve(ctx, e, errors, note) {
  const n = e.instanceIds.length;
  const keep = h('input', { type: 'number', min: 1, max: n, value: Math.max(1, Math.min(2, n)), required: true });
  const size = h('input', { type: 'number', min: 2, max: 20, value: Math.max(n, 3), required: true });
  const instructions = h('textarea', { rows: 3, maxlength: 4000, placeholder: 'Focus on the ensemble approach.' });
  const v = await ask(`Evolve ${e.name}`, [['Keep the best', keep], ['Population size', size], ['Instructions (optional)', instructions]], 'Evolve');
  if (!v) return;
  put(errors);
  put(note, h('p', { class: 'working', role: 'status' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Evolving: cloning the best variants and writing their mutations…'));
  try {
    const body = { keep: Number(v['Keep the best']), populationSize: Number(v['Population size']) };
    if (v['Instructions (optional)'].trim()) body.instructions = v['Instructions (optional)'].trim();
    const r = await post(`/api/experiments/${enc(e.id)}/evolve`, body);
    put(note);
    ctx.go(`/experiments/${enc(r.experiment.id)}?evolved=${encodeURIComponent(r.note)}`);
  } catch (err) {
    put(note);
    errors.append(alertBox(err));
  }
}
