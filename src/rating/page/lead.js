// mhbench rating: the study lead's live view. Reads /api/lead with the lead's token from the URL
// fragment every 10 seconds. Renders with textContent only: rater ids are never markup.
'use strict';

(function () {
  const $ = (id) => document.getElementById(id);
  const token = new URLSearchParams(location.hash.slice(1)).get('token') || '';

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function row(cells, header) {
    const tr = el('tr');
    cells.forEach((c) => tr.append(el(header ? 'th' : 'td', '', c)));
    return tr;
  }

  function percent(x) { return Math.round(100 * x) + '%'; }

  // One agreement cell: statistics, or the minimum-n rule's message.
  function cell(c) {
    if (!c) return 'no pairs yet';
    if (!c.stats) return 'not enough data (n = ' + c.n + ')';
    const s = c.stats;
    const kappa = s.kappa_quadratic === null ? 'κw undefined (no spread)' : 'κw ' + s.kappa_quadratic.toFixed(2);
    return kappa + ' · ' + percent(s.exact) + ' exact · ' + percent(s.within_one) + ' ±1 · |Δ| ' +
      s.mean_abs_diff.toFixed(2) + ' (n = ' + c.n + ')';
  }

  function agreementTable(table, rows, attributes, label) {
    const header = row(['', ...attributes.map((a) => a.name)], true);
    const body = rows.map(([name, byAttribute]) =>
      row([label(name), ...attributes.map((a) => cell(byAttribute[a.id]))]));
    table.replaceChildren(header, ...(body.length ? body : [row(['no pairs yet'])]));
  }

  function render(view) {
    $('progress').replaceChildren(
      row(['rater', 'submitted', 'cannot rate', 'drafts', 'total', 'done', 'median s / reply'], true),
      ...view.progress.map((p) => row([
        p.rater_id, String(p.submitted), String(p.cannot_rate), String(p.drafts), String(p.total),
        p.total ? percent(p.submitted / p.total) : '-',
        p.median_ms === null ? '-' : (p.median_ms / 1000).toFixed(1),
      ])));
    const inter = Object.entries(view.inter_rater).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b)));
    agreementTable($('inter'), inter, view.attributes, (name) => (name === '' ? 'all raters' : name + ' vs others'));
    agreementTable($('retest'), Object.entries(view.test_retest), view.attributes, (name) => name);
    $('rule').textContent = 'A cell needs ' + view.min_pairs + ' score pairs before any statistic is shown. ' +
      'κw: quadratic-weighted Cohen\u2019s kappa; exact and ±1: share of pairs equal or at most one point apart; ' +
      '|Δ|: mean absolute difference. "Cannot rate" makes no pair.';
    $('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
    $('lead').hidden = false;
  }

  async function refresh() {
    const response = await fetch('/api/lead', { cache: 'no-store', headers: { Authorization: 'Bearer ' + token } });
    const data = await response.json().catch(() => ({ message: response.statusText }));
    if (!response.ok) throw new Error(data.message || 'HTTP ' + response.status);
    render(data);
  }

  function fail(error) {
    $('lead').hidden = true;
    $('fatal').hidden = false;
    $('fatal').textContent = error.message;
  }

  if (!token) {
    fail(new Error('This page needs the study lead\u2019s link (it ends in #token=…) from `mhbench rate plan` or `rate reissue --lead`.'));
    return;
  }
  refresh().then(() => setInterval(() => refresh().catch(fail), 10000), fail);
})();
