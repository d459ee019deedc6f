/*
 * The operator console: every queue at a glance, a queue's cumulative flow and
 * figures, its controls, audit log and ticket lookup. Talks to the admin API
 * (admin/api/v1, relative, so it works under a path prefix) with the token kept
 * in sessionStorage (this tab only). Charts are uPlot (admin/uplot.js, served by
 * this server). Figures refresh every 2 s; nothing here computes a figure the
 * API did not give, except formatting.
 */
(function () {
  'use strict';
  var cfg = JSON.parse(document.getElementById('console-config').textContent);
  var S = cfg.strings;
  var lang = cfg.lang;
  var API = 'admin/api/v1/';
  var TOKEN_KEY = 'waitroom:console:token';
  var POLL_MS = 2000;
  var token = sessionStorage.getItem(TOKEN_KEY);
  var timer = null;
  var charts = {};
  var view = { name: '', id: '' };
  var rangeSeconds = 900;
  var current = null; // the queue shown: GET queues/{id} (settings, version, live)
  var pendingRate = null;
  var lastAudit = 0;
  var lastSparks = 0;
  var lastStats = 0;
  var lastStatsData = null; // the flow samples shown: the what-if panel's arrivals
  var whatIfFilled = ''; // the queue whose settings the what-if form was filled with
  var lastHooks = 0;
  var hooksUnavailable = false;

  function $(id) { return document.getElementById(id); }
  function t(key, vars) {
    var s = Object.prototype.hasOwnProperty.call(S, key) ? S[key] : key;
    return s.replace(/\{(\w+)\}/g, function (m, k) { return vars && k in vars ? String(vars[k]) : m; });
  }
  var nf = new Intl.NumberFormat(lang);
  function num(v) { return v === null || v === undefined ? '–' : nf.format(v); }
  function unit(u, v) { return new Intl.NumberFormat(lang, { style: 'unit', unit: u, unitDisplay: 'short', maximumFractionDigits: 1 }).format(v); }
  /** Seconds as "45 sec", "3 min 20 sec", "2 hr 5 min": two units at most. */
  function duration(sec) {
    if (sec === null || sec === undefined) return '–';
    sec = Math.round(sec);
    if (sec < 60) return unit('second', sec);
    if (sec < 3600) return unit('minute', Math.floor(sec / 60)) + (sec % 60 ? ' ' + unit('second', sec % 60) : '');
    var m = Math.round(sec / 60);
    return unit('hour', Math.floor(m / 60)) + (m % 60 ? ' ' + unit('minute', m % 60) : '');
  }
  // 24-hour clock: shorter axis labels, and no AM/PM to misread on the day of a sale.
  var timeFmt = new Intl.DateTimeFormat(lang, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  var secFmt = new Intl.DateTimeFormat(lang, { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
  var dayFmt = new Intl.DateTimeFormat(lang, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    if (attrs) for (var k in attrs) if (attrs[k] !== undefined && attrs[k] !== null) e.setAttribute(k, attrs[k]);
    (children || []).forEach(function (c) { e.append(c); });
    return e;
  }
  function note(id, text) { $(id).textContent = text || ''; }
  function figs(id, pairs) {
    var dl = $(id);
    dl.replaceChildren.apply(dl, pairs.map(function (p) { return el('div', null, [el('dt', null, [p[0]]), el('dd', null, [p[1]])]); }));
  }

  // --- the API -----------------------------------------------------------
  function api(method, path, body, extraHeaders) {
    var headers = { Authorization: 'Bearer ' + token };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    for (var k in extraHeaders || {}) headers[k] = extraHeaders[k];
    return fetch(API + path, { method: method, headers: headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' }).then(function (res) {
      return res.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (res.status === 401) { signOut(t('wrongToken')); throw new Error('unauthorised'); }
        if (!res.ok) {
          var err = new Error((data && data.error && data.error.message) || res.statusText);
          err.status = res.status;
          err.code = data && data.error && data.error.code;
          throw err;
        }
        return data;
      });
    });
  }
  function fail(noteId) {
    return function (err) {
      if (err.message === 'unauthorised') return;
      if (err.status === 412) { note(noteId, t('conflict')); refreshQueue(); return; }
      note(noteId, err.status ? t('error', { message: err.message }) : t('unreachable'));
    };
  }

  // --- signing in and out --------------------------------------------------
  function showSignedIn(yes) {
    $('sign-in').hidden = yes;
    $('sign-out').hidden = !yes;
    if (!yes) { $('list').hidden = true; $('queue').hidden = true; $('updated').textContent = ''; }
  }
  function signOut(message) {
    token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    if (timer) clearTimeout(timer);
    timer = null;
    current = null;
    for (var k in charts) charts[k].destroy();
    charts = {};
    showSignedIn(false);
    $('token').value = '';
    $('token-error').textContent = message === t('wrongToken') ? message : '';
    note('note', message === t('wrongToken') ? '' : message || '');
    $('token').focus();
  }
  $('sign-in-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var given = $('token').value.trim();
    $('token-error').textContent = '';
    fetch(API + 'summary', { headers: { Authorization: 'Bearer ' + given }, cache: 'no-store' }).then(function (res) {
      if (res.ok) {
        token = given;
        sessionStorage.setItem(TOKEN_KEY, token);
        $('token').value = '';
        note('note', '');
        showSignedIn(true);
        route();
        return;
      }
      $('token-error').textContent = res.status === 429 ? t('tooMany') : res.status === 404 ? t('disabled') : t('wrongToken');
      $('token').focus();
    }, function () { $('token-error').textContent = t('unreachable'); });
  });
  $('sign-out').addEventListener('click', function () { signOut(t('signedOut')); });

  // --- charts (uPlot) --------------------------------------------------------
  function axisTime(u, splits) {
    var span = u.scales.x.max - u.scales.x.min;
    var step = splits.length > 1 ? splits[1] - splits[0] : span;
    var f = span > 86400 ? dayFmt : step < 60 ? secFmt : timeFmt;
    return splits.map(function (v) { return f.format(new Date(v * 1000)); });
  }
  function axisNum(u, splits) { return splits.map(function (v) { return nf.format(v); }); }
  function legendTime(u, v) { return v === null || v === undefined ? '–' : secFmt.format(new Date(v * 1000)); }
  function legendNum(u, v) { return num(v); }
  var COLORS = { issued: '#1d4ed8', admitted: '#15803d', waiting: '#b45309', joins: '#1d4ed8', admissions: '#15803d' };
  function line(label, color, extra) {
    var s = { label: label, stroke: color, width: 2, value: legendNum, spanGaps: false };
    for (var k in extra || {}) s[k] = extra[k];
    return s;
  }
  function chartOpts(container, yLabel, series, small) {
    var width = Math.max(200, container.clientWidth || 600);
    if (small) {
      return {
        width: 160, height: 40, legend: { show: false }, cursor: { show: false }, select: { show: false },
        axes: [{ show: false }, { show: false }], scales: { x: { time: true } },
        series: [{}].concat(series),
      };
    }
    return {
      width: width, height: width < 500 ? 220 : 280,
      // Counts start at zero: a cumulative curve or a queue length read from a cut-off axis misleads.
      scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.05 : 1]; } } },
      axes: [
        { label: t('axisTime'), values: axisTime, stroke: '#334155', grid: { stroke: '#e2e8f0' }, space: width < 500 ? 50 : 90 },
        { label: yLabel, values: axisNum, stroke: '#334155', grid: { stroke: '#e2e8f0' }, size: 60 },
      ],
      series: [{ label: t('axisTime'), value: legendTime }].concat(series),
    };
  }
  /** Draws or updates a chart; `key` names it, `data` is [x seconds, ...series]. */
  function chart(key, container, yLabel, series, data, small) {
    var c = charts[key];
    if (c && c.root.parentNode !== container) { c.destroy(); c = null; }
    if (!c) {
      container.replaceChildren();
      c = charts[key] = new uPlot(chartOpts(container, yLabel, series, small), data, container);
    } else {
      c.setData(data);
    }
    // While the pointer is not on the chart, the legend shows the latest values.
    if (!small && !(c.cursor.left >= 0)) {
      var last = data[0].length - 1;
      while (last > 0 && data[1][last] === null) last--;
      if (last >= 0) c.setLegend({ idx: last });
    }
    return c;
  }
  window.addEventListener('resize', function () {
    for (var k in charts) {
      var c = charts[k];
      if (k.indexOf('spark:') === 0) continue;
      var w = Math.max(200, c.root.parentNode.clientWidth);
      c.setSize({ width: w, height: w < 500 ? 220 : 280 });
    }
  });
  function secs(ts) { return ts.map(function (ms) { return ms / 1000; }); }

  // --- the list of queues ------------------------------------------------------
  function stateBadge(state) { return el('span', { class: 'badge', 'data-state': state }, [t('state_' + state)]); }
  function etaText(q) {
    if (q.lastTicketEtaSeconds === null) return t('etaHeld');
    if (q.waiting === 0) return t('etaNone');
    return duration(q.lastTicketEtaSeconds);
  }
  function renderList(sum) {
    var tot = sum.totals;
    figs('totals', [
      [t('totalQueues'), num(tot.queues)], [t('totalWaiting'), num(tot.waiting)], [t('totalAdmitted'), num(tot.admittedLastMinute)],
      [t('totalPasses'), num(tot.activePasses)], [t('totalAttention'), num(tot.needAttention)],
    ]);
    var rows = sum.queues.map(function (q) {
      var name = el('td', null, [el('a', { href: 'admin#/q/' + q.id }, [q.name]), el('span', { class: 'qid' }, [q.id])]);
      var stateCell = el('td', null, [stateBadge(q.displayState)].concat(q.attention.map(function (a) { return el('span', { class: 'flag' }, [t('attention_' + a)]); })));
      var spark = el('div', { class: 'spark', id: 'spark-' + q.id, role: 'img', 'aria-label': t('colTrend') + ': ' + t('seriesIssued') + ' ' + num(q.counter) + ', ' + t('seriesAdmitted') + ' ' + num(Math.min(q.windowEnd, q.counter)) });
      var old = $('spark-' + q.id);
      if (old) spark = old;
      return el('tr', { 'data-queue': q.id }, [
        name, stateCell,
        el('td', { class: 'num' }, [num(q.waiting)]), el('td', { class: 'num' }, [num(q.admittedLastMinute)]),
        el('td', { class: 'num' }, [num(q.activePasses)]), el('td', { class: 'num' }, [etaText(q)]),
        el('td', { class: 'trend' }, [spark]),
      ]);
    });
    if (rows.length === 0) rows = [el('tr', null, [el('td', { colspan: '7' }, [t('noQueues')])])];
    var body = $('queue-rows');
    body.replaceChildren.apply(body, rows);
    if (Date.now() - lastSparks > 10000) {
      lastSparks = Date.now();
      sum.queues.forEach(function (q) {
        var now = Date.now();
        api('GET', 'queues/' + q.id + '/stats?from=' + (now - 600000) + '&to=' + now + '&step=10000').then(function (st) {
          var box = $('spark-' + q.id);
          if (!box) return;
          chart('spark:' + q.id, box, '', [line(t('seriesIssued'), COLORS.issued), line(t('seriesAdmitted'), COLORS.admitted)], [secs(st.series.t), st.series.issued, st.series.admitted], true);
        }, function () {});
      });
    }
  }
  $('create-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var f = ev.target;
    var body = { id: f.id.value.trim() };
    if (f.elements.name.value.trim()) body.name = f.elements.name.value.trim();
    ['windowSize', 'intervalSeconds', 'activeWindowCount'].forEach(function (k) { if (f.elements[k].value !== '') body[k] = Number(f.elements[k].value); });
    api('POST', 'queues', body).then(function (q) {
      note('create-note', t('created', { id: q.id }));
      f.reset();
      location.hash = '#/q/' + q.id;
    }, fail('create-note'));
  });

  // --- webhooks: endpoints and their recent deliveries (read-only; written with the admin API) ---
  var HOOKS_MS = 5000;
  var DELIVERIES_SHOWN = 10;
  function when(iso) { return iso ? secFmt.format(new Date(iso)) : '–'; }
  function renderHooks(list) {
    var box = $('wh-list');
    if (list.length === 0) { box.replaceChildren(el('p', { class: 'help' }, [t('webhooksNone')])); return; }
    box.replaceChildren.apply(box, list.map(function (x) {
      var h = x.hook;
      var hid = 'wh-' + h.id;
      // The badge says enabled or disabled; the status says why it was disabled (the server's words, isolated for right-to-left pages).
      var status = h.enabled ? t('hook_enabled') : el('bdi', null, [h.disabledReason || t('hook_disabled')]);
      var head = el('thead', null, [el('tr', null, ['delEvent', 'delState', 'delAttempts', 'delLastStatus', 'delLastError', 'delLastAttempt', 'delNextAttempt'].map(function (k) {
        return el('th', { scope: 'col', class: k === 'delAttempts' || k === 'delLastStatus' ? 'num' : undefined }, [t(k)]);
      }))]);
      var rows = x.deliveries.map(function (d) {
        return el('tr', { 'data-event': d.eventId }, [
          el('td', null, [el('span', { class: 'etype' }, [d.type]), el('code', { dir: 'ltr', class: 'eid' }, [d.eventId])]),
          el('td', null, [el('span', { class: 'badge', 'data-state': d.state }, [t('delivery_' + d.state)])]),
          el('td', { class: 'num' }, [num(d.attempts)]),
          el('td', { class: 'num' }, [d.lastStatus === null ? '–' : String(d.lastStatus)]),
          el('td', null, [d.lastError ? el('code', { dir: 'ltr' }, [d.lastError]) : '–']),
          el('td', null, [when(d.lastAttemptAt)]),
          el('td', null, [when(d.nextAttemptAt)]),
        ]);
      });
      if (rows.length === 0) rows = [el('tr', null, [el('td', { colspan: '7' }, [t('deliveriesNone')])])];
      return el('article', { class: 'panel hook', 'data-webhook': h.id, 'aria-labelledby': hid + '-h' }, [
        el('h3', { id: hid + '-h' }, [el('span', { class: 'hook-url', dir: 'ltr' }, [h.url]), ' ', el('span', { class: 'badge', 'data-state': h.enabled ? 'enabled' : 'disabled' }, [h.enabled ? t('hook_enabled') : t('hook_disabled')])]),
        el('dl', { class: 'figs hook-figs' }, [
          el('div', null, [el('dt', null, [t('hookQueue')]), el('dd', null, [h.queue || t('hookAllQueues')])]),
          el('div', { class: 'hook-events' }, [el('dt', null, [t('hookEvents')]), el('dd', { dir: 'ltr' }, [h.events.join(', ')])]),
          el('div', null, [el('dt', null, [t('hookStatus')]), el('dd', { class: 'hook-status' }, [status])]),
        ]),
        el('div', { class: 'table-wrap' }, [el('table', { class: 'deliveries', 'aria-label': t('hookDeliveries', { url: h.url }) }, [head, el('tbody', null, rows)])]),
      ]);
    }));
  }
  function refreshHooks() {
    if (hooksUnavailable || Date.now() - lastHooks < HOOKS_MS) return Promise.resolve();
    lastHooks = Date.now();
    return api('GET', 'webhooks').then(function (r) {
      return Promise.all(r.webhooks.map(function (h) {
        return api('GET', 'webhooks/' + h.id + '/deliveries?limit=' + DELIVERIES_SHOWN).then(function (d) { return { hook: h, deliveries: d.deliveries }; });
      }));
    }).then(function (list) {
      note('wh-note', '');
      if (view.name === 'list') renderHooks(list);
    }, function (err) {
      if (err.message === 'unauthorised') throw err;
      // The embedded store has no webhooks (501): say so once, and stop asking.
      if (err.status === 501) { hooksUnavailable = true; note('wh-note', t('webhooksUnavailable')); $('wh-list').replaceChildren(); return; }
      fail('wh-note')(err);
    });
  }

  // --- one queue -------------------------------------------------------------------
  function renderQueue(q) {
    current = q;
    var live = q.live || {};
    var display = q.opensAt && Date.parse(q.opensAt) > Date.now() && q.state !== 'closed' ? 'scheduled' : q.state;
    $('q-name').textContent = q.name + ' (' + q.id + ')';
    var badge = $('q-state');
    badge.textContent = t('state_' + display);
    badge.setAttribute('data-state', display);
    $('q-message').hidden = !q.message;
    $('q-message').textContent = q.message || '';
    var next = live.nextTickInMs === null || live.nextTickInMs === undefined ? t('held') : live.waiting === 0 ? t('idle') : duration(live.nextTickInMs / 1000);
    figs('q-now', [
      [t('figWaiting'), num(live.waiting)], [t('figEta'), live.lastTicketEtaSeconds === null ? t('etaHeld') : duration(live.lastTicketEtaSeconds)],
      [t('figAdmitted'), num(live.admittedLastMinute)], [t('figIssued'), num(live.counter)], [t('figNextTick'), next],
    ]);
    figs('settings', [
      ['S', num(q.windowSize)], ['I', unit('second', q.intervalSeconds)], ['K', num(q.activeWindowCount)],
      [t('opensAtHeading'), q.opensAt ? dayFmt.format(new Date(q.opensAt)) : '–'],
    ]);
    Array.prototype.forEach.call(document.querySelectorAll('#state-buttons button'), function (b) {
      var s = b.getAttribute('data-state');
      b.hidden = s === q.state;
      if (s === 'open') b.textContent = q.state === 'paused' ? t('resume') : t('open');
    });
    var rf = $('rate-form');
    if (!rf.contains(document.activeElement) && !pendingRate) {
      rf.elements.windowSize.value = q.windowSize;
      rf.elements.intervalSeconds.value = q.intervalSeconds;
      rf.elements.activeWindowCount.value = q.activeWindowCount;
    }
    var wf = $('whatif-form');
    if (whatIfFilled !== q.id) {
      whatIfFilled = q.id;
      wf.elements.windowSize.value = q.windowSize;
      wf.elements.intervalSeconds.value = q.intervalSeconds;
      wf.elements.activeWindowCount.value = q.activeWindowCount;
      wf.elements.maxActive.value = q.maxActive ? q.maxActive : '';
      wf.elements.compensateNoShows.checked = !!q.compensateNoShows;
    }
    if (document.activeElement !== $('message')) $('message').value = q.message || '';
    if (document.activeElement !== $('opens-at')) $('opens-at').value = q.opensAt ? localInput(new Date(q.opensAt)) : '';
  }
  function localInput(d) {
    var p = function (n) { return String(n).padStart(2, '0'); };
    return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + 'T' + p(d.getHours()) + ':' + p(d.getMinutes());
  }
  function renderStats(st) {
    lastStatsData = st;
    var x = secs(st.series.t);
    $('flow-empty').hidden = st.series.issued.some(function (v) { return v !== null; });
    var waiting = st.series.issued.map(function (v, i) { return v === null ? null : v - st.series.admitted[i]; });
    chart('flow', $('flow-chart'), t('axisTickets'), [line(t('seriesIssued'), COLORS.issued), line(t('seriesAdmitted'), COLORS.admitted)], [x, st.series.issued, st.series.admitted]);
    chart('len', $('len-chart'), t('axisVisitors'), [line(t('seriesWaiting'), COLORS.waiting, { fill: 'rgba(180,83,9,0.12)' })], [x, waiting]);
    // Each value holds for its whole minute: a step from the minute's start.
    var steps = uPlot.paths.stepped({ align: 1 });
    chart('rate', $('rate-chart'), t('axisPerMinute'), [
      line(t('seriesJoins'), COLORS.joins, { paths: steps }),
      line(t('seriesAdmissions'), COLORS.admissions, { paths: steps, dash: [6, 3] }),
    ], [secs(st.perMinute.t), st.perMinute.joins, st.perMinute.admissions]);
    var w = st.timeInQueue;
    figs('wait-figs', [[t('p50'), duration(w.p50)], [t('p90'), duration(w.p90)], [t('p99'), duration(w.p99)], [t('max'), duration(w.max)]]);
    $('wait-count').textContent = t('visitorsCounted', { count: num(w.visitors) });
    figs('len-figs', [[t('lengthNow'), num(st.queueLength.current)], [t('lengthMax'), num(st.queueLength.max)]]);
    var p = st.passes;
    figs('pass-figs', [[t('passClaimed'), num(p.claimed)], [t('passCompleted'), num(p.completed)], [t('passAbandoned'), num(p.abandoned)], [t('passActive'), num(p.active)]]);
  }
  function renderAudit(entries) {
    var rows = entries.filter(function (e) { return e.queue === view.id; }).slice(0, 25).map(function (e) {
      var changes = Object.keys(e.changes || {}).map(function (k) {
        var c = e.changes[k];
        if (k === 'queue') return c.before === null ? 'created' : 'deleted';
        return k + ': ' + JSON.stringify(c.before) + ' → ' + JSON.stringify(c.after);
      }).join('\n');
      return el('tr', null, [el('td', null, [e.at ? secFmt.format(new Date(e.at)) + ' ' : '']), el('td', null, [e.actor || '']), el('td', null, [e.action || '']), el('td', null, [el('code', { dir: 'ltr' }, [changes])])]);
    });
    if (rows.length === 0) rows = [el('tr', null, [el('td', { colspan: '4' }, [t('auditEmpty')])])];
    var body = $('audit-rows');
    body.replaceChildren.apply(body, rows);
  }
  function refreshQueue() {
    if (!view.id) return Promise.resolve();
    var id = view.id;
    var now = Date.now();
    var step = rangeSeconds <= 3600 ? (rangeSeconds <= 300 ? 1000 : rangeSeconds <= 900 ? 5000 : 10000) : rangeSeconds <= 86400 ? 60000 : 600000;
    var jobs = [api('GET', 'queues/' + id).then(function (q) { if (view.id === id) renderQueue(q); })];
    // Charts over an hour move by the minute: read them every 30 s, not every 2 s.
    if (rangeSeconds <= 3600 || now - lastStats > 30000) {
      lastStats = now;
      jobs.push(api('GET', 'queues/' + id + '/stats?from=' + (now - rangeSeconds * 1000) + '&to=' + now + '&step=' + step).then(function (st) { if (view.id === id) renderStats(st); }));
    }
    if (now - lastAudit > 10000) {
      lastAudit = now;
      jobs.push(api('GET', 'audit?limit=500').then(function (a) { if (view.id === id) renderAudit(a.entries); }));
    }
    return Promise.all(jobs);
  }
  function patch(body, noteId) {
    if (!current) return Promise.resolve();
    return api('PATCH', 'queues/' + current.id, body, { 'If-Match': '"' + current.version + '"' }).then(function (q) {
      note(noteId, t('saved'));
      lastAudit = 0;
      renderQueue(q);
      return refreshQueue();
    }, fail(noteId));
  }
  Array.prototype.forEach.call(document.querySelectorAll('#state-buttons button'), function (b) {
    b.addEventListener('click', function () {
      var s = b.getAttribute('data-state');
      if (s === 'closed' && !window.confirm(t('confirmClose', { id: current.id }))) return;
      if (s === 'passthrough' && !window.confirm(t('confirmPassthrough', { id: current.id }))) return;
      patch({ state: s }, 'ctl-note');
    });
  });
  function rateBody() {
    var f = $('rate-form').elements;
    return { windowSize: Number(f.windowSize.value), intervalSeconds: Number(f.intervalSeconds.value), activeWindowCount: Number(f.activeWindowCount.value) };
  }
  $('rate-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var body = rateBody();
    api('POST', 'queues/' + current.id + '/preview', body).then(function (p) {
      pendingRate = body;
      var d = function (v) { return v === null ? t('etaHeld') : duration(v); };
      $('preview-text').textContent = t('previewResult', { ticket: num(p.newestTicket), before: d(p.before.newestTicket), after: d(p.after.newestTicket), joinBefore: d(p.before.joiningNow), joinAfter: d(p.after.joiningNow) });
      $('preview').hidden = false;
      $('apply-rate').focus();
    }, fail('ctl-note'));
  });
  $('apply-rate').addEventListener('click', function () {
    var body = pendingRate;
    pendingRate = null;
    $('preview').hidden = true;
    if (body) patch(body, 'ctl-note');
  });
  $('cancel-rate').addEventListener('click', function () { pendingRate = null; $('preview').hidden = true; });
  $('message-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var m = $('message').value.trim();
    patch({ message: m === '' ? null : m }, 'ctl-note');
  });
  $('opens-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var v = $('opens-at').value;
    patch({ opensAt: v ? new Date(v).toISOString() : null }, 'ctl-note');
  });
  $('opens-clear').addEventListener('click', function () { $('opens-at').value = ''; patch({ opensAt: null }, 'ctl-note'); });
  $('lookup-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    api('GET', 'queues/' + view.id + '/tickets/' + encodeURIComponent($('lookup-n').value)).then(function (r) {
      figs('lookup-result', [
        [t('ticketStatus'), t('status_' + r.status)], [t('ticketPlace'), r.status === 'waiting' ? num(r.position) : '–'],
        [t('ticketEta'), r.status === 'waiting' ? (r.etaSeconds === null ? t('etaHeld') : duration(r.etaSeconds)) : '–'],
        [t('ticketPass'), t('pass_' + r.pass.state)],
      ]);
    }, function (err) {
      if (err.message === 'unauthorised') return;
      figs('lookup-result', [[t('ticketStatus'), t('error', { message: err.message })]]);
    });
  });
  Array.prototype.forEach.call(document.querySelectorAll('.range button'), function (b) {
    b.addEventListener('click', function () {
      rangeSeconds = Number(b.getAttribute('data-range'));
      lastStats = 0;
      Array.prototype.forEach.call(document.querySelectorAll('.range button'), function (o) { o.setAttribute('aria-pressed', String(o === b)); });
      refreshQueue().catch(fail('note'));
    });
  });

  // --- what if: the simulator in a Web Worker ---------------------------------------
  // admin/what-if.js is the simulator of `npm run simulate` (internal/simulate), bundled:
  // the same admission code on a virtual clock. This page only builds the scenario from the
  // flow samples shown and the form, and draws the answer.
  var worker = null;
  var whatIfRun = 0;
  $('whatif').hidden = !cfg.whatIf || typeof Worker === 'undefined';
  /**
   * The joins of the range shown as an arrival curve: one step per flow sample, from the
   * first sample in the range (t = 0 of the simulation; earlier the range has no samples).
   */
  function arrivalSteps(st) {
    var ts = st.series.t;
    var issued = st.series.issued;
    var steps = [];
    var total = 0;
    var prev = null;
    var origin = null;
    for (var i = 0; i < ts.length; i++) {
      var v = issued[i];
      if (v === null || v === undefined) continue;
      if (origin === null) origin = ts[i];
      if (prev !== null) {
        var joins = Math.max(0, v - prev.v); // a new epoch restarts the counter: no negative arrivals
        var secsBetween = (ts[i] - prev.t) / 1000;
        if (secsBetween > 0) {
          steps.push({ fromSecond: (prev.t - origin) / 1000, perSecond: joins / secsBetween });
          total += joins;
        }
      }
      prev = { t: ts[i], v: v };
    }
    return { steps: steps, total: total, untilSecond: prev ? (prev.t - origin) / 1000 : 0, startMs: origin };
  }
  function whatIfScenario() {
    var f = $('whatif-form').elements;
    var a = arrivalSteps(lastStatsData);
    if (a.total === 0 || a.steps.length === 0) return { error: t('whatIfNoArrivals') };
    var queue = { windowSize: Number(f.windowSize.value), intervalSeconds: Number(f.intervalSeconds.value), activeWindowCount: Number(f.activeWindowCount.value) };
    if (f.maxActive.value !== '') queue.maxActive = Number(f.maxActive.value);
    if (f.compensateNoShows.checked) queue.compensateNoShows = true;
    return {
      visitors: a.total,
      startMs: a.startMs,
      scenario: {
        name: 'what-if-' + view.id,
        seed: 1,
        arrivals: { kind: 'steps', steps: a.steps, untilSecond: a.untilSecond },
        queue: queue,
        visitors: {
          giveUp: { share: Number(f.giveUpPercent.value) / 100, afterMinutes: Number(f.giveUpMinutes.value) },
          timeOnSite: { distribution: 'exponential', minutes: Number(f.timeOnSiteMinutes.value) },
        },
        site: { capacity: Number(f.capacity.value) },
      },
    };
  }
  function whatIfFig(key, label, text, value, over) {
    return el('div', null, [el('dt', null, [label]), el('dd', { 'data-key': key, 'data-value': String(value), 'data-over': over ? 'true' : null }, [text])]);
  }
  function renderWhatIf(r, startMs, visitors) {
    var s = r.summary;
    var items = [
      whatIfFig('waitP50', t('wiP50'), duration(s.waitP50), s.waitP50),
      whatIfFig('waitP90', t('wiP90'), duration(s.waitP90), s.waitP90),
      whatIfFig('waitP99', t('wiP99'), duration(s.waitP99), s.waitP99),
      whatIfFig('peakWaiting', t('wiPeakQueue'), num(s.peakWaiting), s.peakWaiting),
      whatIfFig('peakOnSite', t('wiPeakSite'), num(s.peakOnSite) + ' / ' + num(s.capacity), s.peakOnSite, s.capacityExceeded),
      whatIfFig('gaveUp', t('wiGaveUp'), num(s.gaveUp) + ' (' + new Intl.NumberFormat(lang, { style: 'percent', maximumFractionDigits: 1 }).format(s.gaveUpShare) + ')', s.gaveUp),
    ];
    if (s.maxActive !== null) items.push(whatIfFig('peakOccupancy', t('wiCap'), num(s.peakOccupancy) + ' / ' + num(s.maxActive), s.peakOccupancy, s.maxActiveExceeded));
    var dl = $('whatif-figs');
    dl.replaceChildren.apply(dl, items);
    var base = startMs / 1000;
    var x = r.series.t.map(function (v) { return base + v; });
    var cap = r.series.t.map(function () { return s.capacity; });
    chart('whatif', $('whatif-chart'), t('axisVisitors'), [
      line(t('seriesWaiting'), COLORS.waiting, { fill: 'rgba(180,83,9,0.12)' }),
      line(t('seriesOnSite'), COLORS.admitted),
      line(t('seriesCapacity'), '#991b1b', { dash: [6, 4], width: 1 }),
    ], [x, r.series.waiting, r.series.onSite, cap]);
    var span = duration(r.scenario.arrivals.untilSecond);
    note('whatif-note', t('whatIfDone', { visitors: num(visitors), span: span, seconds: new Intl.NumberFormat(lang, { maximumFractionDigits: 1 }).format(r.ms / 1000) }) + (s.cutShort ? ' ' + t('whatIfCutShort') : ''));
    $('whatif-scenario').textContent = JSON.stringify(r.scenario, null, 2);
    $('whatif-details').hidden = false;
  }
  $('whatif-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    if (!lastStatsData) return;
    var w = whatIfScenario();
    if (w.error) { note('whatif-note', w.error); return; }
    if (!worker) worker = new Worker('admin/what-if.js');
    var id = ++whatIfRun;
    var button = $('whatif-run');
    button.disabled = true;
    note('whatif-note', t('whatIfRunning', { visitors: num(w.visitors) }));
    worker.onmessage = function (e) {
      if (e.data.id !== id) return;
      button.disabled = false;
      if (!e.data.ok) { note('whatif-note', t('whatIfProblem', { problems: e.data.problems.join('; ') })); return; }
      renderWhatIf(e.data, w.startMs, w.visitors);
    };
    worker.onerror = function (e) {
      button.disabled = false;
      note('whatif-note', t('error', { message: e.message || 'worker' }));
    };
    worker.postMessage({ id: id, scenario: w.scenario });
  });

  // --- routing and the 2-second refresh ----------------------------------------------
  function poll() {
    if (!token) return;
    var job = view.name === 'queue' ? refreshQueue() : Promise.all([api('GET', 'summary').then(renderList), refreshHooks()]);
    job.then(function () {
      // Signed out while this poll was in flight: keep the "signed out" note.
      if (!token) return;
      note('note', '');
      $('updated').textContent = t('updated', { time: secFmt.format(new Date()) });
    }, fail('note')).finally(function () {
      if (token) timer = setTimeout(poll, POLL_MS);
    });
  }
  function route() {
    if (!token) { showSignedIn(false); return; }
    var m = /^#\/q\/([a-z0-9-]{1,64})$/.exec(location.hash);
    var next = m ? { name: 'queue', id: m[1] } : { name: 'list', id: '' };
    if (next.id !== view.id) {
      for (var k in charts) if (k.indexOf('spark:') !== 0) { charts[k].destroy(); delete charts[k]; }
      current = null;
      pendingRate = null;
      lastAudit = 0;
      lastStats = 0;
      $('preview').hidden = true;
      $('lookup-result').replaceChildren();
      lastStatsData = null;
      whatIfFilled = '';
      $('whatif-figs').replaceChildren();
      $('whatif-details').hidden = true;
      note('whatif-note', '');
      note('ctl-note', '');
    }
    if (next.name === 'list') { lastSparks = 0; lastHooks = 0; }
    view = next;
    $('list').hidden = view.name !== 'list';
    $('queue').hidden = view.name !== 'queue';
    if (timer) clearTimeout(timer);
    timer = null;
    poll();
  }
  window.addEventListener('hashchange', route);
  showSignedIn(Boolean(token));
  if (token) route(); else $('token').focus();
})();
