/*
 * The hosted waiting page: renders a WaitingRoom (client.js) into index.html.
 * Every visible string comes from the page config (internal/web/static/i18n/<lang>.json).
 */
(function () {
  'use strict';
  var config = JSON.parse(document.getElementById('wr-config').textContent);
  var t = config.strings;
  var numbers = new Intl.NumberFormat(config.lang);
  var $ = function (id) {
    return document.getElementById(id);
  };
  var el = {
    position: $('wr-position'),
    ahead: $('wr-ahead'),
    eta: $('wr-eta'),
    progress: $('wr-progress'),
    bar: $('wr-bar'),
    state: $('wr-state'),
    help: $('wr-help'),
    go: $('wr-go'),
    rejoin: $('wr-rejoin'),
    note: $('wr-note'),
    live: $('wr-live'),
    figures: $('wr-figures'),
  };

  function fill(template, vars) {
    return template.replace(/\{(\w+)\}/g, function (m, k) {
      return Object.prototype.hasOwnProperty.call(vars, k) ? vars[k] : m;
    });
  }

  function formatEta(seconds) {
    if (seconds <= 0) return t.etaNow;
    var m = Math.floor(seconds / 60);
    var s = seconds % 60;
    return m > 0 ? fill(t.etaMinutes, { minutes: numbers.format(m), seconds: numbers.format(s) }) : fill(t.etaSeconds, { seconds: numbers.format(s) });
  }

  // The page may be served under a path prefix (e.g. /waitroom/ behind the nginx gate):
  // the API lives beside the page, so its base is the page's directory.
  var baseUrl = location.pathname.replace(/[^/]*$/, '').replace(/\/+$/, '');
  var room = new WaitingRoom({ baseUrl: baseUrl, storageKey: 'waitroom:ticket:' + config.queue });
  var last = null;
  var lastAnnounced = '';

  function announce(text) {
    // Only state changes and new places are announced, not the countdown ticking each second.
    if (text === lastAnnounced) return;
    lastAnnounced = text;
    el.live.textContent = text;
  }

  function remaining() {
    if (!last || last.status !== 'waiting') return 0;
    return Math.max(0, last.etaSeconds - Math.floor((Date.now() - last.receivedAt) / 1000));
  }

  function setState(state, text, help) {
    el.state.setAttribute('data-state', state);
    el.state.textContent = text;
    el.help.textContent = help || '';
    document.body.setAttribute('data-state', state);
  }

  function render(s) {
    last = s;
    el.note.textContent = '';
    var pct = Math.round(room.progress() * 100);
    el.bar.style.width = pct + '%';
    el.progress.setAttribute('aria-valuenow', String(pct));
    if (s.status === 'waiting') {
      el.position.textContent = numbers.format(s.position);
      el.ahead.textContent = numbers.format(s.ahead);
      el.eta.textContent = formatEta(remaining());
      setState('waiting', t.stateWaiting);
      announce(fill(t.announceWaiting, { position: numbers.format(s.position), ahead: numbers.format(s.ahead), eta: formatEta(s.etaSeconds) }));
    } else {
      el.position.textContent = '–';
      el.ahead.textContent = numbers.format(0);
      el.eta.textContent = '–';
    }
  }

  setInterval(function () {
    if (last && last.status === 'waiting') el.eta.textContent = formatEta(remaining());
  }, 1000);

  function showGo(url) {
    if (url) {
      el.go.href = url;
      el.go.hidden = false;
    }
  }

  room.on('update', render);
  room.on('active', function () {
    setState('active', t.stateActive, t.activeHelp);
    announce(t.announceActive);
    // Sent here by the gate with where the visitor wanted to go: go back there once admitted.
    var returnTo = new URLSearchParams(location.search).get('return_to') || undefined;
    room.claim(returnTo).then(
      function (pass) {
        // No admission endpoint (404): go to the configured site directly.
        var url = pass ? pass.redirectUrl : config.targetUrl;
        showGo(url);
        if (url) {
          el.help.textContent = t.redirecting;
          window.location.assign(url);
        }
        el.go.focus();
      },
      function () {
        showGo(config.targetUrl);
      },
    );
  });
  room.on('expired', function () {
    setState('expired', t.stateExpired, t.expiredHelp);
    announce(t.announceExpired);
    el.rejoin.hidden = false;
    el.rejoin.focus();
  });
  room.on('error', function (err) {
    if (err.code === 'queue_reset') el.note.textContent = t.requeued;
    else if (err.code === 'stream_unavailable') el.note.textContent = t.offline;
    else if (err.code !== 'invalid_token' && err.code !== 'token_expired') el.note.textContent = t.failed;
  });

  el.rejoin.addEventListener('click', function () {
    el.rejoin.hidden = true;
    el.go.hidden = true;
    lastAnnounced = '';
    room.leave();
    setState('joining', t.joining);
    start();
  });

  function start() {
    room.join().catch(function () {
      el.note.textContent = t.failed;
      setTimeout(start, 3000);
    });
  }
  start();
})();
