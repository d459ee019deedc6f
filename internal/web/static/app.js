/*
 * The hosted waiting page: renders a WaitingRoom (client.js) into index.html.
 * Every visible string comes from the page config (internal/web/static/i18n/<lang>.json);
 * waits, counts and plurals are formatted by format.js with the browser's Intl.
 */
(function () {
  'use strict';
  var config = JSON.parse(document.getElementById('wr-config').textContent);
  var t = config.strings;
  var lang = config.lang;
  var fmt = window.WaitroomFormat;
  var numbers = new Intl.NumberFormat(lang);
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
    challenge: $('wr-challenge'),
    broadcast: $('wr-broadcast'),
  };

  var fill = fmt.fill;

  function formatEta(seconds) {
    var wait = fmt.formatWait(seconds, lang, t);
    // A queue that skips visitors who left promises a latest time, not an exact one.
    return last && last.etaKind === 'upperBound' ? fill(t.etaUpperBound, { eta: wait }) : wait;
  }

  // The language links keep the rest of the query (return_to above all): switching
  // language must not lose where the gate will send the visitor back to.
  var links = document.querySelectorAll('nav.languages a[hreflang]');
  for (var i = 0; i < links.length; i++) {
    var params = new URLSearchParams(location.search);
    params.set('lang', links[i].getAttribute('hreflang'));
    links[i].setAttribute('href', '?' + params.toString());
  }

  // Redirects to the site per ticket, kept for this tab: a site that sends the
  // visitor straight back (its pass cookie was dropped, e.g. a Secure cookie on
  // plain http) must not become an endless loop of page loads.
  var REDIRECTS_KEY = 'waitroom:redirects:' + config.queue;
  var MAX_REDIRECTS = 2;
  var REDIRECT_MEMORY_MS = 2 * 60 * 1000;

  function redirectsFor(ticket) {
    try {
      var r = JSON.parse(sessionStorage.getItem(REDIRECTS_KEY) || 'null');
      if (r && r.ticket === ticket && Date.now() - r.at < REDIRECT_MEMORY_MS) return r.count;
    } catch (e) {
      /* no session storage: count from zero */
    }
    return 0;
  }

  function recordRedirect(ticket, count) {
    try {
      sessionStorage.setItem(REDIRECTS_KEY, JSON.stringify({ ticket: ticket, count: count, at: Date.now() }));
    } catch (e) {
      /* private mode: nothing to count with; the loop guard is best effort */
    }
  }

  // The page may be served under a path prefix (e.g. /waitroom/ behind the nginx gate):
  // the API lives beside the page, so its base is the page's directory.
  var baseUrl = location.pathname.replace(/[^/]*$/, '').replace(/\/+$/, '');
  // The ALTCHA widget (altcha.js, served by the waitroom itself) runs its proof of work in a
  // worker started from this server's URL, so the page's CSP needs no blob: workers.
  if (window.$altcha && window.$altcha.algorithms) {
    window.$altcha.algorithms.set('PBKDF2/SHA-256', function () {
      return new Worker(baseUrl + '/altcha-pbkdf2-worker.js');
    });
  }

  /** Shows the widget, which fetches the challenge and solves it at once; resolves with its payload. */
  function solveChallenge(url) {
    return new Promise(function (resolve) {
      var box = el.challenge;
      box.textContent = '';
      var help = document.createElement('p');
      help.textContent = t.challengeHelp;
      box.appendChild(help);
      var widget = document.createElement('altcha-widget');
      widget.setAttribute('challenge', url);
      widget.setAttribute('auto', 'onload');
      widget.setAttribute('name', 'altcha');
      widget.addEventListener('verified', function (ev) {
        box.hidden = true;
        box.textContent = '';
        resolve(ev.detail.payload);
      });
      box.hidden = false;
      box.appendChild(widget);
      setState('joining', t.challengeState);
    });
  }

  var room = new WaitingRoom({ baseUrl: baseUrl, storageKey: 'waitroom:ticket:' + config.queue, solveChallenge: solveChallenge });
  var last = null;
  var lastAnnounced = '';

  function announce(text) {
    // Only state changes and new places are announced, not the countdown ticking each second.
    if (text === lastAnnounced) return;
    lastAnnounced = text;
    el.live.textContent = text;
  }

  // Paused or closed: no advance is scheduled, so the server sends etaSeconds null.
  function held(s) {
    return s && s.status === 'waiting' && (s.state === 'paused' || s.state === 'closed' || s.siteBusy === true);
  }

  function remaining() {
    if (!last || last.status !== 'waiting' || last.etaSeconds === null) return 0;
    return Math.max(0, last.etaSeconds - Math.floor((Date.now() - last.receivedAt) / 1000));
  }

  function setState(state, text, help) {
    el.state.setAttribute('data-state', state);
    el.state.textContent = text;
    el.help.textContent = help || '';
    document.body.setAttribute('data-state', state);
  }

  // The operator's broadcast message, live: every status (stream or poll) carries it.
  function renderBroadcast(s) {
    var text = typeof s.message === 'string' ? s.message : '';
    if (el.broadcast.textContent !== text) el.broadcast.textContent = text;
    el.broadcast.hidden = text === '';
  }

  function opensAtText(s) {
    if (!s.opensAt) return '';
    var at = new Date(s.opensAt);
    if (!(at.getTime() > Date.now())) return '';
    return fill(t.opensAt, { time: at.toLocaleTimeString(lang, { hour: '2-digit', minute: '2-digit' }) });
  }

  function render(s) {
    last = s;
    el.note.textContent = '';
    renderBroadcast(s);
    var pct = Math.round(room.progress() * 100);
    el.bar.style.width = pct + '%';
    el.progress.setAttribute('aria-valuenow', String(pct));
    if (s.status === 'waiting') {
      el.position.textContent = numbers.format(s.position);
      el.ahead.textContent = numbers.format(s.ahead);
      if (held(s)) {
        el.eta.textContent = t.etaUnknown;
        // The site is unhealthy: admissions are held by themselves until it recovers.
        if (s.siteBusy === true && s.state === 'open') setState('paused', t.stateSiteBusy, t.siteBusyHelp);
        else if (s.state === 'paused') setState('paused', t.statePaused, t.pausedHelp);
        else setState('closed', t.stateClosed, t.closedHelp);
        announce(fill(t.announcePaused, { position: numbers.format(s.position) }));
        return;
      }
      el.eta.textContent = formatEta(remaining());
      setState('waiting', t.stateWaiting, opensAtText(s));
      announce(fill(t.announceWaiting, { position: numbers.format(s.position), ahead: fmt.plural(t.peopleAhead, s.ahead, lang), eta: formatEta(s.etaSeconds) }));
    } else {
      // Not in line any more: no place, nobody ahead, no wait; the state line says why.
      el.position.textContent = '–';
      el.ahead.textContent = '–';
      el.eta.textContent = '–';
    }
  }

  setInterval(function () {
    if (last && last.status === 'waiting' && !held(last)) el.eta.textContent = formatEta(remaining());
  }, 1000);

  function showGo(url) {
    if (url) {
      el.go.href = url;
      el.go.hidden = false;
    }
  }

  var watchTimer = 0;

  /**
   * After admission with nowhere to go (no TARGET_URL, or a redirect loop), the
   * page stays and must not keep saying "your turn" once the ticket expires:
   * it asks /status again after each tick until the ticket is expired.
   */
  function watchActive() {
    clearTimeout(watchTimer);
    var token = room.ticket && room.ticket.token;
    if (!token) return;
    room.request('GET', '/status', token).then(
      function (r) {
        if (r.body.status === 'expired') return showExpired();
        watchTimer = setTimeout(watchActive, Math.max(1, r.body.pollAfterSeconds || 1) * 1000);
      },
      function (err) {
        if (err.code === 'token_expired' || err.code === 'queue_reset') return showExpired();
        watchTimer = setTimeout(watchActive, 5000);
      },
    );
  }

  function goTo(url, ticket) {
    var count = redirectsFor(ticket);
    if (count >= MAX_REDIRECTS) {
      // The site sent the visitor back twice already: stop and say so.
      setState('bounced', t.bounced, t.bouncedHelp);
      announce(t.bounced);
      el.go.textContent = t.tryAgain;
      el.go.onclick = function () {
        recordRedirect(ticket, MAX_REDIRECTS - 1);
      };
      showGo(url);
      el.go.focus();
      watchActive();
      return;
    }
    recordRedirect(ticket, count + 1);
    showGo(url);
    el.help.textContent = t.redirecting;
    window.location.assign(url);
  }

  room.on('update', render);
  room.on('active', function () {
    setState('active', t.stateActive, t.activeHelp);
    announce(t.announceActive);
    var ticket = room.ticket ? room.ticket.ticket : 0;
    // Sent here by the gate with where the visitor wanted to go: go back there once admitted.
    var returnTo = new URLSearchParams(location.search).get('return_to') || undefined;
    room.claim(returnTo).then(
      function (pass) {
        // No admission endpoint (404): go to the configured site directly.
        var url = pass ? pass.redirectUrl : config.targetUrl;
        if (url) return goTo(url, ticket);
        setState('active', t.stateActive, t.activeNoTarget);
        watchActive();
      },
      function (err) {
        if (err && err.code === 'ticket_expired') return showExpired();
        if (err && err.code === 'ticket_skipped') return room.emit('skipped', room.last);
        showGo(config.targetUrl);
        watchActive();
      },
    );
  });

  function showExpired() {
    clearTimeout(watchTimer);
    el.go.hidden = true;
    setState('expired', t.stateExpired, t.expiredHelp);
    announce(t.announceExpired);
    el.rejoin.hidden = false;
    el.rejoin.focus();
  }
  room.on('expired', showExpired);
  // The visitor had left (closed the page) and the line moved past their place meanwhile.
  room.on('skipped', function () {
    clearTimeout(watchTimer);
    el.go.hidden = true;
    setState('expired', t.stateSkipped, t.skippedHelp);
    announce(t.announceSkipped);
    el.rejoin.hidden = false;
    el.rejoin.focus();
  });
  // Closing the page (or reloading it) tells the waitroom the visitor left, so a queue that
  // compensates no-shows lets the next one in; a reload or a page shown again from the
  // back/forward cache says it is back at once and keeps the place (client.js away/back).
  window.addEventListener('pagehide', function () {
    room.away();
  });
  window.addEventListener('pageshow', function (ev) {
    if (ev.persisted) room.back();
  });
  // A hidden tab may be frozen (phones): no polls, no stream. Back in view after a while, it says
  // it is back in case a replica marked it gone for going quiet.
  document.addEventListener('visibilitychange', function () {
    if (document.visibilityState === 'hidden') room.outOfTouch(Date.now());
    else if (room.troubleAt && Date.now() - room.troubleAt > 30000) {
      room.troubleAt = 0;
      room.back();
    } else room.troubleAt = 0;
  });
  room.on('error', function (err) {
    if (err.code === 'queue_reset') el.note.textContent = t.requeued;
    else if (err.code === 'stream_unavailable') el.note.textContent = t.offline;
    else if (err.code !== 'invalid_token' && err.code !== 'token_expired') el.note.textContent = t.failed;
  });

  el.rejoin.addEventListener('click', function () {
    clearTimeout(watchTimer);
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
