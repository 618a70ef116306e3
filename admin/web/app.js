// caf-saga dashboard: the saga list (index.html) and one saga's page
// (saga.html). Plain DOM, no dependencies; works under
// Content-Security-Policy: default-src 'self' (no inline script or style:
// positions are set through the CSSOM, which CSP allows).
'use strict';

(function () {
  const REFRESH_MS = 2000;
  const STATES = ['running', 'compensating', 'failed', 'compensated', 'completed'];
  const TERMINAL = ['completed', 'compensated', 'failed'];

  // -- helpers -----------------------------------------------------------------

  function $(sel) {
    return document.querySelector(sel);
  }

  /// Creates element `tag` with class `cls` and text `text` (never HTML).
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls)
      e.className = cls;
    if (text !== undefined && text !== null)
      e.textContent = String(text);
    return e;
  }

  function clear(node) {
    while (node.firstChild)
      node.removeChild(node.firstChild);
  }

  /// An error from the API: the HTTP status and the server's own words.
  class ApiError extends Error {
    constructor(status, message, code) {
      super(message);
      this.status = status;
      this.code = code || '';
    }
    describe() {
      let s = this.status ? 'HTTP ' + this.status + ': ' + this.message : this.message;
      if (this.code)
        s += ' (' + this.code + ')';
      return s;
    }
  }

  async function api(path, options) {
    let resp;
    try {
      resp = await fetch(path, Object.assign({ cache: 'no-store' }, options || {}));
    } catch (e) {
      throw new ApiError(0, 'the node does not answer: ' + e.message);
    }
    const text = await resp.text();
    let body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch (e) {
      body = null;
    }
    if (!resp.ok) {
      const msg = body && body.error ? body.error : (text || resp.statusText);
      throw new ApiError(resp.status, msg, body && body.code);
    }
    if (body === null)
      throw new ApiError(resp.status, 'the answer is not JSON');
    return body;
  }

  function showBanner(err) {
    const b = $('#error-banner');
    if (!b)
      return;
    if (err) {
      b.textContent = err instanceof ApiError ? err.describe() : String(err);
      b.classList.remove('hidden');
    } else {
      b.textContent = '';
      b.classList.add('hidden');
    }
  }

  function setRefreshed() {
    const s = $('#refresh-status');
    if (s)
      s.textContent = 'updated ' + new Date().toLocaleTimeString();
  }

  function badge(state) {
    const b = el('span', 'badge state-' + (state || 'unknown'), state || '?');
    b.dataset.state = state || '';
    return b;
  }

  /// Formats a duration in ms as "850 ms", "12.3 s", "4 min 10 s", "3 h 2 min".
  function formatDuration(ms) {
    if (!(ms >= 0))
      return '–';
    if (ms < 1000)
      return Math.round(ms) + ' ms';
    const s = ms / 1000;
    if (s < 60)
      return (s < 10 ? s.toFixed(2) : s.toFixed(1)) + ' s';
    const m = Math.floor(s / 60);
    if (m < 60)
      return m + ' min ' + Math.floor(s % 60) + ' s';
    const h = Math.floor(m / 60);
    if (h < 48)
      return h + ' h ' + (m % 60) + ' min';
    return Math.floor(h / 24) + ' d ' + (h % 24) + ' h';
  }

  function formatTime(ms) {
    if (!ms)
      return '–';
    const d = new Date(ms);
    return d.toLocaleString(undefined, { hour12: false }) + '.'
      + String(d.getMilliseconds()).padStart(3, '0');
  }

  function clockTime(ms) {
    if (!ms)
      return '–';
    const d = new Date(ms);
    return d.toLocaleTimeString(undefined, { hour12: false }) + '.'
      + String(d.getMilliseconds()).padStart(3, '0');
  }

  /// Describes a retry a saga waits for ("grant: attempt 3/5 failed, next
  /// by 12:00:03.250: busy").
  function retryText(r) {
    return r.step + ': ' + (r.op === 'compensate' ? 'undo ' : '') + 'attempt '
      + r.attempt + '/' + r.max_attempts + ' failed, next by '
      + clockTime(r.next_at_ms) + (r.error ? ': ' + r.error : '');
  }

  function sagaLink(id) {
    const a = el('a', 'saga-link mono', id);
    a.href = '/saga.html?id=' + encodeURIComponent(id);
    return a;
  }

  /// Runs `fn` now and then every REFRESH_MS after it finished.
  function poll(fn) {
    let timer = null;
    const run = async () => {
      clearTimeout(timer);
      try {
        await fn();
      } finally {
        clearTimeout(timer); // one pending refresh, however often run() is called
        timer = setTimeout(run, REFRESH_MS);
      }
    };
    run();
    return run; // call to refresh at once
  }

  // -- index.html ----------------------------------------------------------------

  function initIndex() {
    const params = new URLSearchParams(location.search);
    const msParam = (name) => {
      const v = Number(params.get(name));
      return params.get(name) && Number.isFinite(v) && v >= 0 ? v : null;
    };
    const view = {
      state: params.has('state') ? params.get('state') : 'running',
      definition: params.get('definition') || '',
      idPrefix: params.get('id_prefix') || '',
      businessKey: params.get('business_key') || '',
      fromMs: msParam('from_ms'),
      toMs: msParam('to_ms'),
      // The page shown: empty for the first; `next` and `prev` of the page
      // the server answered last.
      cursor: params.get('cursor') || '',
      // Sagas per page (1 to 500; the API's own bound).
      limit: Math.min(Math.max(Math.floor(Number(params.get('limit'))) || 100, 1), 500),
    };
    let pageNext = '';
    let pagePrev = '';
    let listGeneration = 0;
    if (view.state !== '' && STATES.indexOf(view.state) < 0)
      view.state = '';
    let knownDefinitions = [];

    const tabs = document.querySelectorAll('#state-tabs [data-filter]');
    const defSelect = $('#definition-filter');

    /// Returns the list query of `view` (without limit).
    function listQuery() {
      const q = new URLSearchParams();
      q.set('state', view.state);
      if (view.definition)
        q.set('definition', view.definition);
      if (view.idPrefix)
        q.set('id_prefix', view.idPrefix);
      if (view.businessKey)
        q.set('business_key', view.businessKey);
      if (view.fromMs !== null)
        q.set('from_ms', String(view.fromMs));
      if (view.toMs !== null)
        q.set('to_ms', String(view.toMs));
      if (view.cursor)
        q.set('cursor', view.cursor);
      if (view.limit !== 100)
        q.set('limit', String(view.limit));
      return q;
    }

    /// Formats `ms` for a datetime-local input (local time), or ''.
    function localInput(ms) {
      if (ms === null)
        return '';
      const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000);
      return d.toISOString().slice(0, 19);
    }

    function syncControls() {
      tabs.forEach((t) => t.classList.toggle('active', t.dataset.filter === view.state));
      if (defSelect.value !== view.definition)
        defSelect.value = view.definition;
      $('#search-id').value = view.idPrefix;
      $('#search-key').value = view.businessKey;
      $('#search-from').value = localInput(view.fromMs);
      $('#search-to').value = localInput(view.toMs);
      history.replaceState(null, '', '?' + listQuery().toString());
    }

    function fillDefinitions(names) {
      if (view.definition && names.indexOf(view.definition) < 0)
        names = names.concat([view.definition]);
      names.sort();
      if (names.join('\n') === knownDefinitions.join('\n'))
        return;
      knownDefinitions = names;
      while (defSelect.options.length > 1)
        defSelect.remove(1);
      for (const n of names) {
        const o = el('option', null, n);
        o.value = n;
        defSelect.appendChild(o);
      }
      defSelect.value = view.definition;
    }

    function renderStats(stats) {
      const states = stats.states || {};
      document.querySelectorAll('#state-counts [data-state]').forEach((c) => {
        const v = states[c.dataset.state];
        c.querySelector('.count-value').textContent = v === undefined ? '–' : String(v);
      });
      fillDefinitions(Object.keys(stats.definitions || {}));
    }

    function renderSagas(page) {
      const tbody = $('#saga-table tbody');
      clear(tbody);
      const now = Date.now();
      const sagas = page.sagas || [];
      for (const s of sagas) {
        const tr = el('tr');
        tr.dataset.id = s.id;
        tr.dataset.state = s.state;
        const idCell = el('td');
        idCell.appendChild(sagaLink(s.id));
        tr.appendChild(idCell);
        tr.appendChild(el('td', null, s.definition));
        const st = el('td');
        st.appendChild(badge(s.state));
        tr.appendChild(st);
        tr.appendChild(el('td', 'mono', s.owner));
        const age = el('td', 'num', s.started_ms ? formatDuration(now - s.started_ms) : '–');
        age.title = 'started ' + formatTime(s.started_ms)
          + (s.ended_ms ? ', took ' + formatDuration(s.ended_ms - s.started_ms) : '');
        tr.appendChild(age);
        tr.appendChild(el('td', 'num', s.steps));
        const errText = s.retrying ? retryText(s.retrying)
          : s.error ? (s.failed_step ? s.failed_step + ': ' : '') + s.error : '';
        const err = el('td', 'error-cell' + (s.retrying ? ' retrying' : ''), errText);
        err.title = errText;
        tr.appendChild(err);
        tbody.appendChild(tr);
      }
      pageNext = page.next || '';
      pagePrev = page.prev || '';
      // A page can come back short, even empty, while more follow: the
      // node reads a bounded number of sagas per page (its scan budget).
      const empty = $('#saga-empty');
      empty.classList.toggle('hidden', sagas.length > 0);
      empty.textContent = sagas.length === 0 && pageNext
        ? 'None of the ' + (page.scanned || 0) + ' sagas searched so far match; '
          + 'Next searches further.'
        : 'No sagas match.';
      $('#saga-more').textContent = sagas.length
        ? sagas.length + (sagas.length === 1 ? ' saga' : ' sagas') + ' on this page'
          + (pageNext ? '; more may follow' : '') : '';
      $('#page-next').disabled = !pageNext;
      $('#page-prev').disabled = !pagePrev;
    }

    function renderNodes(data) {
      const ul = $('#nodes');
      clear(ul);
      const nodes = data.nodes || [];
      if (nodes.length === 0)
        ul.appendChild(el('li', 'muted', 'no nodes'));
      for (const n of nodes) {
        const li = el('li', 'node ' + (n.alive ? 'alive' : 'dead'));
        li.dataset.node = n.id;
        const head = el('div', 'node-head');
        head.appendChild(el('span', 'dot'));
        head.appendChild(el('span', 'node-id mono', n.id));
        if (n.coordinates)
          head.appendChild(el('span', 'tag', 'coordinator'));
        head.appendChild(el('span', 'muted node-epoch', 'epoch ' + n.epoch));
        li.appendChild(head);
        const meta = el('div', 'node-meta muted');
        meta.textContent = n.host + ':' + n.port
          + (n.admin ? ' · admin ' + n.admin : '')
          + ' · ' + (n.unfinished || 0) + ' unfinished';
        li.appendChild(meta);
        if (n.participants && n.participants.length) {
          const ps = el('div', 'node-participants');
          for (const p of n.participants)
            ps.appendChild(el('span', 'tag light', p));
          li.appendChild(ps);
        }
        ul.appendChild(li);
      }
    }

    /// Puts `data.events` (oldest first) at the top of the live feed.
    function renderEvents(data) {
      const feed = $('#event-feed');
      const events = data.events || [];
      for (const e of events) {
        const li = el('li', 'feed-item type-' + e.type);
        li.dataset.seq = e.seq;
        li.appendChild(el('span', 'feed-time mono', clockTime(e.time_ms)));
        li.appendChild(el('span', 'feed-type', e.type.replace(/_/g, ' ')));
        const who = el('span', 'feed-saga');
        who.appendChild(sagaLink(e.saga_id));
        if (e.step)
          who.appendChild(el('span', 'muted', ' · ' + e.step
            + (e.attempt ? ' #' + e.attempt : '')));
        li.appendChild(who);
        if (e.error)
          li.appendChild(el('span', 'feed-error', e.error));
        if (e.next_at_ms)
          li.appendChild(el('span', 'muted feed-retry', 'retry by ' + clockTime(e.next_at_ms)));
        feed.insertBefore(li, feed.firstChild);
      }
      while (feed.children.length > 60)
        feed.removeChild(feed.lastChild);
    }

    /// Follows the node's lifecycle events as Server-Sent Events: pushed as
    /// they happen; after a dropped connection the browser reconnects with
    /// the last event's id (epoch:seq), and a restarted node answers with a
    /// `reset` (its sequence restarted) and its newest events.
    function followEvents() {
      const feed = $('#event-feed');
      let lastId = ''; // epoch:seq of the last event shown
      let retryMs = 1000;
      const open = () => {
        // The browser reconnects by itself after a dropped connection; an
        // answer that is not 200 (a full server's 503) closes the source
        // for good: reopen it later from the last event seen.
        const colon = lastId.indexOf(':');
        const from = colon > 0 ? '?epoch=' + encodeURIComponent(lastId.slice(0, colon))
          + '&after=' + encodeURIComponent(lastId.slice(colon + 1)) : '';
        const source = new EventSource('/api/events/stream' + from);
        source.addEventListener('reset', () => clear(feed));
        source.onmessage = (m) => {
          lastId = m.lastEventId || lastId;
          retryMs = 1000;
          try {
            renderEvents({ events: [JSON.parse(m.data)] });
          } catch (e) {
            // A malformed message: skip it, keep the stream.
          }
        };
        source.onopen = () => feed.classList.remove('stale');
        source.onerror = () => {
          feed.classList.add('stale');
          if (source.readyState === EventSource.CLOSED) {
            setTimeout(open, retryMs);
            retryMs = Math.min(retryMs * 2, 30000);
          }
        };
      };
      open();
    }

    async function refresh() {
      const q = listQuery();
      if (!view.state)
        q.delete('state');
      q.set('limit', String(view.limit));
      // A refresh can overlap one under way (a click while it waits): only
      // the answer to the newest query may draw the list.
      const generation = ++listGeneration;
      const results = await Promise.allSettled([
        api('/api/stats').then(renderStats),
        api('/api/sagas?' + q.toString()).then((page) => {
          if (generation === listGeneration)
            renderSagas(page);
        }),
        api('/api/nodes').then(renderNodes),
      ]);
      const failed = results.find((r) => r.status === 'rejected');
      showBanner(failed ? failed.reason : null);
      setRefreshed();
    }

    const refreshNow = poll(refresh);
    followEvents();
    /// Shows the first page of the filters as changed by `change`.
    function refilter(change) {
      change();
      view.cursor = '';
      syncControls();
      refreshNow();
    }
    tabs.forEach((t) => t.addEventListener('click', () =>
      refilter(() => { view.state = t.dataset.filter; })));
    defSelect.addEventListener('change', () =>
      refilter(() => { view.definition = defSelect.value; }));
    const inputMs = (sel) => {
      const v = $(sel).value;
      const ms = v ? new Date(v).getTime() : NaN;
      return Number.isFinite(ms) && ms >= 0 ? ms : null;
    };
    $('#search').addEventListener('submit', (ev) => {
      ev.preventDefault();
      refilter(() => {
        view.idPrefix = $('#search-id').value.trim();
        view.businessKey = $('#search-key').value.trim();
        view.fromMs = inputMs('#search-from');
        view.toMs = inputMs('#search-to');
      });
    });
    $('#search-clear').addEventListener('click', () => refilter(() => {
      view.idPrefix = '';
      view.businessKey = '';
      view.fromMs = null;
      view.toMs = null;
    }));
    $('#page-next').addEventListener('click', () => {
      if (!pageNext)
        return;
      view.cursor = pageNext;
      syncControls();
      refreshNow();
    });
    $('#page-prev').addEventListener('click', () => {
      view.cursor = pagePrev; // '' is the first page
      syncControls();
      refreshNow();
    });
    syncControls();
  }

  // -- saga.html -----------------------------------------------------------------

  /// Returns the dependency level of each step (0: no `after`).
  function levels(steps) {
    const byName = new Map(steps.map((s) => [s.name, s]));
    const memo = new Map();
    function level(s, seen) {
      if (memo.has(s.name))
        return memo.get(s.name);
      let l = 0;
      for (const d of s.after || []) {
        const dep = byName.get(d);
        if (dep && !seen.has(d)) {
          seen.add(d);
          l = Math.max(l, level(dep, seen) + 1);
        }
      }
      memo.set(s.name, l);
      return l;
    }
    return steps.map((s) => level(s, new Set([s.name])));
  }

  /// Picks a round tick step for a span of `span` ms (about 6 ticks).
  function tickStep(span) {
    const raw = span / 6;
    const pow = Math.pow(10, Math.floor(Math.log10(Math.max(raw, 1))));
    for (const m of [1, 2, 5, 10])
      if (raw <= m * pow)
        return m * pow;
    return 10 * pow;
  }

  function renderTimeline(saga) {
    const box = $('#timeline');
    clear(box);
    const steps = saga.steps || [];
    if (steps.length === 0) {
      box.appendChild(el('p', 'empty', 'No steps.'));
      return;
    }
    const now = Date.now();
    const t0 = saga.started_ms || Math.min.apply(null, steps.flatMap(
      (s) => (s.operations || []).map((o) => o.started_ms).filter((x) => x > 0)).concat([now]));
    let tEnd = saga.ended_ms || 0;
    let firstCompensate = 0;
    for (const s of steps)
      for (const o of s.operations || []) {
        const end = o.ended_ms || (o.started_ms ? now : 0);
        tEnd = Math.max(tEnd, end, o.started_ms || 0);
        if (o.op === 'compensate' && o.started_ms
            && (!firstCompensate || o.started_ms < firstCompensate))
          firstCompensate = o.started_ms;
      }
    for (const a of saga.operator_actions || [])
      tEnd = Math.max(tEnd, a.time_ms || 0);
    if (!TERMINAL.includes(saga.state))
      tEnd = Math.max(tEnd, now);
    const span = Math.max(tEnd - t0, 1);
    const pct = (t) => Math.min(100, Math.max(0, ((t - t0) / span) * 100));

    // The time axis.
    const axis = el('div', 'tl-row tl-axis');
    axis.appendChild(el('div', 'tl-label', 'ms since start'));
    const axisTrack = el('div', 'tl-track');
    const step = tickStep(span);
    for (let t = 0; t <= span + 0.5; t += step) {
      const tick = el('div', 'tick', t < 1000 ? Math.round(t) + ' ms' : Number((t / 1000).toFixed(3)) + ' s');
      tick.style.left = (t / span) * 100 + '%';
      if (t / span > 0.93)
        tick.classList.add('tick-end');
      axisTrack.appendChild(tick);
    }
    axis.appendChild(axisTrack);
    box.appendChild(axis);

    // Lanes, grouped by dependency level.
    const lv = levels(steps);
    const maxLevel = Math.max.apply(null, lv);
    for (let level = 0; level <= maxLevel; ++level) {
      const group = el('div', 'tl-group');
      group.dataset.level = level;
      const head = el('div', 'tl-row tl-group-head');
      head.appendChild(el('div', 'tl-label', 'level ' + level));
      head.appendChild(el('div', 'tl-track'));
      group.appendChild(head);
      steps.forEach((s, i) => {
        if (lv[i] !== level)
          return;
        group.appendChild(renderLane(s, t0, now, pct, firstCompensate, saga));
      });
      box.appendChild(group);
    }

    // Grid lines and the compensation marker, over every lane.
    const overlay = el('div', 'tl-overlay');
    for (let t = 0; t <= span + 0.5; t += step) {
      const g = el('div', 'gridline');
      g.style.left = (t / span) * 100 + '%';
      overlay.appendChild(g);
    }
    if (firstCompensate) {
      const m = el('div', 'comp-marker');
      m.style.left = pct(firstCompensate) + '%';
      m.title = 'compensation started at +' + formatDuration(firstCompensate - t0);
      m.appendChild(el('span', 'comp-marker-label', 'compensation'));
      overlay.appendChild(m);
    }
    for (const a of saga.operator_actions || []) {
      if (!a.time_ms || a.time_ms < t0)
        continue;
      const m = el('div', 'op-marker');
      m.style.left = pct(a.time_ms) + '%';
      m.title = a.action + ' by ' + a.by + ' at +' + formatDuration(a.time_ms - t0);
      m.appendChild(el('span', 'op-marker-label', a.action + ' · ' + a.by));
      if (pct(a.time_ms) > 80)
        m.classList.add('flip');
      overlay.appendChild(m);
    }
    box.appendChild(overlay);
  }

  function renderLane(s, t0, now, pct, firstCompensate, saga) {
    const lane = el('div', 'tl-row lane status-' + s.status);
    lane.dataset.step = s.name;
    lane.dataset.status = s.status;
    const label = el('div', 'tl-label');
    const name = el('div', 'lane-name');
    name.appendChild(el('span', 'mono', s.name));
    if (s.pivot)
      name.appendChild(el('span', 'tag pivot', 'pivot'));
    label.appendChild(name);
    const meta = el('div', 'lane-meta');
    meta.appendChild(badge(s.status));
    meta.appendChild(el('span', 'muted', ' ' + s.participant
      + (s.action && s.action !== s.name ? '.' + s.action : '')
      + ' · ' + s.attempts + (s.attempts === 1 ? ' try' : ' tries')
      + (s.compensation_attempts ? ' · ' + s.compensation_attempts + ' undo' : '')));
    label.appendChild(meta);
    label.title = (s.after && s.after.length ? 'after ' + s.after.join(', ') : 'no dependencies')
      + (s.error ? '\n' + s.error : '')
      + (s.outcome_unknown ? '\noutcome unknown' : '')
      + (s.result && Object.keys(s.result).length ? '\nresult ' + JSON.stringify(s.result) : '');
    lane.appendChild(label);

    const track = el('div', 'tl-track');
    for (const o of s.operations || []) {
      if (!o.started_ms)
        continue;
      const end = o.ended_ms || now;
      const bar = el('div', 'bar op-' + o.op + ' outcome-' + o.outcome);
      bar.dataset.op = o.op;
      bar.dataset.outcome = o.outcome;
      bar.dataset.attempt = o.attempt;
      const left = pct(o.started_ms);
      bar.style.left = left + '%';
      bar.style.width = Math.max(pct(end) - left, 0.4) + '%';
      bar.title = o.op + ' #' + o.attempt + ': ' + o.outcome
        + '\n+' + formatDuration(o.started_ms - t0) + ' … '
        + (o.ended_ms ? '+' + formatDuration(o.ended_ms - t0) : 'no answer yet')
        + ' (' + formatDuration(end - o.started_ms) + ')'
        + (o.error ? '\n' + o.error : '');
      if (o.outcome !== 'succeeded' && o.outcome !== 'compensated' && pct(end) - left >= 2.5)
        bar.appendChild(el('span', 'bar-mark', o.outcome === 'pending' ? '…' : '✕'));
      track.appendChild(bar);
    }
    if ((s.operations || []).length === 0)
      track.appendChild(el('span', 'lane-note muted', 'not run (' + s.status + ')'));
    lane.appendChild(track);
    return lane;
  }

  /// Returns `x` as compact JSON text ('–' for nothing).
  function jsonText(x) {
    if (x === null || x === undefined)
      return '–';
    return typeof x === 'string' ? x : JSON.stringify(x);
  }

  /// Fills the steps table: each step's input payload beside its result.
  function renderSteps(saga) {
    const tbody = $('#steps-table tbody');
    clear(tbody);
    for (const s of saga.steps || []) {
      const tr = el('tr');
      tr.dataset.step = s.name;
      tr.appendChild(el('td', 'mono', s.name));
      tr.appendChild(el('td', 'mono', s.participant
        + (s.action && s.action !== s.name ? '.' + s.action : '')));
      const st = el('td');
      st.appendChild(badge(s.status));
      tr.appendChild(st);
      tr.appendChild(el('td', 'num', s.attempts));
      const input = el('td', 'json-cell step-input', jsonText(s.payload));
      const result = el('td', 'json-cell step-result', jsonText(s.result));
      tr.appendChild(input);
      tr.appendChild(result);
      tbody.appendChild(tr);
    }
  }

  function initSaga() {
    const id = new URLSearchParams(location.search).get('id') || '';
    const tokenInput = $('#token');
    const retryBtn = $('#retry');
    const abortBtn = $('#abort');
    const status = $('#action-status');
    let current = null;
    let busy = false;

    tokenInput.value = sessionStorage.getItem('saga-admin-token') || '';
    tokenInput.addEventListener('input', () =>
      sessionStorage.setItem('saga-admin-token', tokenInput.value));
    // The operator's name outlives the tab (it is no secret).
    const operatorInput = $('#operator');
    operatorInput.value = localStorage.getItem('saga-operator') || '';
    operatorInput.addEventListener('input', () =>
      localStorage.setItem('saga-operator', operatorInput.value.trim()));

    function syncButtons() {
      const st = current ? current.state : '';
      retryBtn.disabled = busy || st !== 'failed';
      abortBtn.disabled = busy || st !== 'running';
    }

    function render(s) {
      current = s;
      document.title = 'caf-saga · ' + s.id;
      $('#saga-id').textContent = s.id;
      const st = $('#saga-state');
      st.textContent = s.state;
      st.className = 'badge big state-' + s.state;
      st.dataset.state = s.state;
      $('#saga-definition').textContent = s.definition || '–';
      $('#saga-business-key').textContent = s.business_key || '–';
      $('#saga-owner').textContent = s.owner || '–';
      $('#saga-epoch').textContent = s.epoch === undefined ? '–' : String(s.epoch);
      $('#saga-started').textContent = formatTime(s.started_ms);
      $('#saga-duration').textContent = s.started_ms
        ? formatDuration((s.ended_ms || Date.now()) - s.started_ms) + (s.ended_ms ? '' : ' (running)')
        : '–';
      $('#saga-failed-step').textContent = s.failed_step || '–';
      const err = $('#saga-error');
      if (s.error) {
        err.textContent = s.error + (s.error_code ? ' (' + s.error_code + ')' : '');
        err.classList.remove('hidden');
      } else {
        err.classList.add('hidden');
      }
      const retrying = $('#saga-retrying');
      retrying.textContent = s.retrying ? 'waiting to retry ' + retryText(s.retrying) : '';
      retrying.classList.toggle('hidden', !s.retrying);
      renderTimeline(s);
      renderSteps(s);
      renderSagaEvents(s);
      renderOperatorActions(s);
      syncButtons();
    }

    function renderSagaEvents(s) {
      const tbody = $('#events-table tbody');
      clear(tbody);
      const t0 = s.started_ms || 0;
      for (const e of s.events || []) {
        const tr = el('tr', 'type-' + e.type);
        tr.dataset.seq = e.seq;
        tr.appendChild(el('td', 'num', e.seq));
        tr.appendChild(el('td', 'num', t0 && e.time_ms ? e.time_ms - t0 : '–'));
        tr.appendChild(el('td', 'mono', e.type));
        let step = e.step;
        if (typeof step === 'number' && s.steps && s.steps[step])
          step = s.steps[step].name;
        tr.appendChild(el('td', 'mono', step === null || step === undefined ? '' : step));
        tr.appendChild(el('td', 'num', e.attempt ? e.attempt : ''));
        tr.appendChild(el('td', 'error-cell', e.error || ''));
        tbody.appendChild(tr);
      }
    }

    function renderOperatorActions(s) {
      const table = $('#operator-actions');
      const tbody = table.querySelector('tbody');
      clear(tbody);
      const acts = s.operator_actions || [];
      table.classList.toggle('hidden', acts.length === 0);
      for (const a of acts) {
        const tr = el('tr');
        tr.appendChild(el('td', 'mono', formatTime(a.time_ms)));
        tr.appendChild(el('td', null, a.action));
        tr.appendChild(el('td', 'mono', a.by));
        tbody.appendChild(tr);
      }
    }

    async function refresh() {
      if (!id) {
        showBanner('No saga id: open this page as saga.html?id=<saga id>.');
        return;
      }
      try {
        render(await api('/api/sagas/' + encodeURIComponent(id)));
        showBanner(null);
      } catch (e) {
        showBanner(e);
      }
      setRefreshed();
    }

    /// Returns the operator's name as typed, or null (with the reason shown)
    /// if it is not 1 to 64 characters of [A-Za-z0-9._@-], as the server
    /// requires: every action is recorded under it.
    function operatorName() {
      const name = operatorInput.value.trim();
      if (/^[A-Za-z0-9._@-]{1,64}$/.test(name))
        return name;
      status.className = 'action-status fail';
      status.textContent = name
        ? 'your name may only have letters, digits and . _ @ -'
        : 'enter your name first: actions are recorded under it';
      operatorInput.focus();
      return null;
    }

    async function act(action) {
      const by = operatorName();
      if (by === null)
        return;
      busy = true;
      syncButtons();
      status.className = 'action-status pending';
      status.textContent = action + '…';
      try {
        const token = tokenInput.value.trim();
        const headers = { 'Content-Type': 'application/json' };
        if (token)
          headers.Authorization = 'Bearer ' + token;
        const r = await api('/api/sagas/' + encodeURIComponent(id) + '/' + action, {
          method: 'POST',
          headers: headers,
          body: JSON.stringify({ by: by }),
        });
        status.className = 'action-status ok';
        status.textContent = r.action + ' accepted by ' + r.by + ': saga now ' + r.state;
      } catch (e) {
        status.className = 'action-status fail';
        status.textContent = e instanceof ApiError ? e.describe() : String(e);
      } finally {
        busy = false;
        await refreshNow();
      }
    }

    retryBtn.addEventListener('click', () => act('retry'));
    abortBtn.addEventListener('click', () => act('abort'));
    const refreshNow = poll(refresh);
  }

  document.addEventListener('DOMContentLoaded', () => {
    const page = document.body.dataset.page;
    if (page === 'index')
      initIndex();
    else if (page === 'saga')
      initSaga();
  });
})();
