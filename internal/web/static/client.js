/*!
 * waitroom browser client: joins the waiting room once, follows the ticket with
 * server-sent events and falls back to polling GET /status when streams fail.
 * Dependency-free; served at /client.js. Usage (README "The embeddable client"):
 *
 *   const room = new WaitingRoom({ baseUrl: '/waitroom' });
 *   room.on('update', (s) => render(s)).on('active', () => room.claim());
 *   room.join();
 *
 * Leaving (docs/system.md, "No-shows"): room.leave() gives the place up for good; room.away()
 * (the page's pagehide) tells the waitroom the visitor went away but remembers it for this tab,
 * so room.join() after a reload, or room.back() when the page is shown again, says "I'm back"
 * (POST /stay) and keeps the place unless the turn was skipped meanwhile ('skipped' event).
 */
(function (root) {
  'use strict';

  var EVENTS = ['update', 'active', 'expired', 'skipped', 'error'];
  // "I'm back" again this long after the first: a leave beacon of the page being reloaded can
  // reach the server after the new page's first one (the browser sends it while unloading), and a
  // replica's presence sweep (every 15 s) may mark a visitor who was quiet for the grace just
  // after they came back on another replica.
  var STAY_AGAIN_MS = [3000, 20000];
  // Out of touch this long (failed polls, a broken stream, a hidden tab): say "I'm back" once in
  // touch again, in case a replica marked the visitor gone meanwhile.
  var AWAY_AFTER_MS = 30000;
  // Stream reconnect backoff after falling back to polling: 2 s doubling to 60 s.
  var BACKOFF_MIN_MS = 2000;
  var BACKOFF_MAX_MS = 60000;

  function now() {
    return Date.now();
  }

  function WaitroomClientError(code, message, status, body) {
    var e = new Error(message);
    e.name = 'WaitroomClientError';
    e.code = code;
    e.status = status;
    e.body = body;
    return e;
  }

  /**
   * @param {object} [opts]
   * @param {string} [opts.baseUrl]  where the waitroom is served ('' = this origin)
   * @param {string} [opts.storageKey]  localStorage key of the ticket (default 'waitroom:ticket')
   * @param {boolean} [opts.stream]  use /events (default true); false polls /status only
   * @param {function(string): Promise<string>} [opts.solveChallenge]  called with the challenge URL
   *   when the waitroom asks joins for a proof of work; resolves with the solved payload (the
   *   waiting page shows the ALTCHA widget). Without it such a join fails with 'challenge_required'.
   */
  function WaitingRoom(opts) {
    opts = opts || {};
    this.baseUrl = (opts.baseUrl || '').replace(/\/+$/, '');
    this.solveChallenge = typeof opts.solveChallenge === 'function' ? opts.solveChallenge : null;
    this.storageKey = opts.storageKey || 'waitroom:ticket';
    this.useStream = opts.stream !== false && typeof root.EventSource === 'function';
    this.listeners = {};
    this.ticket = null;
    this.last = null;
    this.source = null;
    this.pollTimer = 0;
    this.retryTimer = 0;
    this.backoffMs = BACKOFF_MIN_MS;
    this.finished = false;
    this.stopped = true;
    this.troubleAt = 0;
    for (var i = 0; i < EVENTS.length; i++) this.listeners[EVENTS[i]] = [];
  }

  /** Registers a listener for 'update' | 'active' | 'expired' | 'skipped' | 'error'; returns this. */
  WaitingRoom.prototype.on = function (event, fn) {
    if (!this.listeners[event]) throw new Error('unknown event "' + event + '"; use one of ' + EVENTS.join(', '));
    this.listeners[event].push(fn);
    return this;
  };

  WaitingRoom.prototype.off = function (event, fn) {
    var l = this.listeners[event] || [];
    var i = l.indexOf(fn);
    if (i >= 0) l.splice(i, 1);
    return this;
  };

  WaitingRoom.prototype.emit = function (event, arg) {
    var l = (this.listeners[event] || []).slice();
    for (var i = 0; i < l.length; i++) {
      try {
        l[i](arg);
      } catch (err) {
        if (root.console) root.console.error(err);
      }
    }
  };

  WaitingRoom.prototype.load = function () {
    try {
      var raw = root.localStorage && root.localStorage.getItem(this.storageKey);
      var t = raw ? JSON.parse(raw) : null;
      // expiresAt is the token's JWT exp, in seconds.
      if (t && typeof t.token === 'string' && t.expiresAt * 1000 > now()) return t;
    } catch (e) {
      /* unreadable storage: join afresh */
    }
    return null;
  };

  WaitingRoom.prototype.save = function (t) {
    try {
      if (root.localStorage) root.localStorage.setItem(this.storageKey, JSON.stringify(t));
    } catch (e) {
      /* private mode: the ticket lives for this page only */
    }
  };

  /** sessionStorage: the ticket this tab said it left with (away()), until it says it is back. */
  WaitingRoom.prototype.awayMark = function (ticket) {
    var key = this.storageKey + ':away';
    try {
      if (!root.sessionStorage) return false;
      if (ticket === undefined) return root.sessionStorage.getItem(key);
      if (ticket === null) root.sessionStorage.removeItem(key);
      else root.sessionStorage.setItem(key, String(ticket));
    } catch (e) {
      /* no session storage: a reload cannot say it is back; its polls keep the place anyway */
    }
    return null;
  };

  WaitingRoom.prototype.forget = function () {
    this.awayMark(null);
    this.ticket = null;
    try {
      if (root.localStorage) root.localStorage.removeItem(this.storageKey);
    } catch (e) {
      /* ignore */
    }
  };

  WaitingRoom.prototype.request = function (method, path, token, extraHeaders) {
    var headers = { Accept: 'application/json' };
    if (token) headers.Authorization = 'Bearer ' + token;
    for (var h in extraHeaders || {}) headers[h] = extraHeaders[h];
    return root.fetch(this.baseUrl + path, { method: method, headers: headers, credentials: 'same-origin', cache: 'no-store' }).then(function (res) {
      return res.text().then(function (text) {
        var body = null;
        try {
          body = text ? JSON.parse(text) : null;
        } catch (e) {
          body = null;
        }
        if (res.ok) return { status: res.status, body: body, headers: res.headers };
        var err = (body && body.error) || {};
        throw WaitroomClientError(err.code || 'http_' + res.status, err.message || 'HTTP ' + res.status, res.status, body);
      });
    });
  };

  /** Takes a ticket (POST /join) unless one is stored; with Web Locks, tabs never take two. */
  WaitingRoom.prototype.obtainTicket = function () {
    var self = this;
    var take = function () {
      var stored = self.load();
      if (stored) return Promise.resolve(stored);
      // 201: a new place; 200: this browser's ticket cookie already held one, which comes back.
      return self.joinRequest(0).then(function (r) {
        var b = r.body;
        var t = { token: b.token, ticket: b.ticket, queue: b.queue, expiresAt: b.expiresAt, firstAhead: b.ahead, joined: b };
        self.save(t);
        return t;
      });
    };
    var locks = root.navigator && root.navigator.locks;
    if (locks && typeof locks.request === 'function') return locks.request(this.storageKey, take);
    return take();
  };

  /** POST /join; when a proof of work is asked for, solves it (opts.solveChallenge) and tries again. */
  WaitingRoom.prototype.joinRequest = function (attempt, payload) {
    var self = this;
    var headers = payload ? { 'X-Waitroom-Challenge': payload } : undefined;
    return this.request('POST', '/join', null, headers).catch(function (err) {
      var asked = err.code === 'challenge_required' || err.code === 'challenge_invalid' || err.code === 'challenge_replayed';
      if (!asked || !self.solveChallenge || attempt >= 3) throw err;
      var where = (err.body && err.body.error && err.body.error.challengeUrl) || 'challenge';
      return self.solveChallenge(self.baseUrl + '/' + where.replace(/^\/+/, '')).then(function (solved) {
        return self.joinRequest(attempt + 1, solved);
      });
    });
  };

  /**
   * Joins (or resumes the stored ticket) and starts following it. Resolves
   * with the ticket's first status; later ones arrive as 'update' events.
   */
  WaitingRoom.prototype.join = function () {
    var self = this;
    this.stopped = false;
    this.finished = false;
    return this.obtainTicket().then(function (t) {
      self.ticket = t;
      if (t.joined) {
        var first = t.joined;
        delete t.joined;
        self.save(t);
        self.handleStatus(statusOf(first));
        if (!self.finished) self.follow();
        return self.last;
      }
      // This tab said it left (pagehide of a reload): say it is back first.
      var wasAway = self.awayMark() === String(t.ticket);
      return self.request(wasAway ? 'POST' : 'GET', wasAway ? '/stay' : '/status', t.token).then(
        function (r) {
          if (wasAway) self.backAgain();
          self.handleStatus(r.body);
          if (!self.finished) self.follow();
          return self.last;
        },
        function (err) {
          return self.handleFailure(err).then(function () {
            return self.last;
          });
        },
      );
    });
  };

  /**
   * The visitor is going away (the page's pagehide: closed, navigated off, or a reload). Sends a
   * leave with navigator.sendBeacon (delivered while the page unloads) and remembers it for this
   * tab: a reload or a page shown again from the back/forward cache says it is back (join(),
   * back()) and keeps the place if the turn has not passed.
   */
  WaitingRoom.prototype.away = function () {
    if (!this.ticket || this.finished || !this.last || this.last.status !== 'waiting') return;
    this.awayMark(this.ticket.ticket);
    var body = JSON.stringify({ token: this.ticket.token });
    var url = this.baseUrl + '/leave';
    var nav = root.navigator;
    if (nav && typeof nav.sendBeacon === 'function' && typeof root.Blob === 'function' && nav.sendBeacon(url, new root.Blob([body], { type: 'application/json' }))) return;
    try {
      root.fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: body, keepalive: true, credentials: 'same-origin' });
    } catch (e) {
      /* the page is going: nothing more to do */
    }
  };

  /**
   * The visitor is back (the page shown again, or a reconnect after a long time away): POST /stay
   * keeps the place unless the turn was skipped ('skipped' event), then follows the ticket again.
   */
  WaitingRoom.prototype.back = function () {
    var self = this;
    if (!this.ticket || this.finished) return Promise.resolve(this.last);
    this.stopped = false;
    return this.request('POST', '/stay', this.ticket.token).then(
      function (r) {
        self.backAgain();
        self.handleStatus(r.body);
        if (!self.finished) {
          self.stopFollowing();
          self.follow();
        }
        return self.last;
      },
      function (err) {
        return self.handleFailure(err).then(function () {
          return self.last;
        });
      },
    );
  };

  /** Says "I'm back" again a little later (see STAY_AGAIN_MS), then forgets it was away. */
  WaitingRoom.prototype.backAgain = function () {
    var self = this;
    var ticket = this.ticket;
    STAY_AGAIN_MS.forEach(function (ms, i) {
      setTimeout(function () {
        if (!ticket || self.ticket !== ticket || self.finished) return;
        self.request('POST', '/stay', ticket.token).then(
          function (r) {
            if (i === 0 && self.awayMark() === String(ticket.ticket)) self.awayMark(null);
            if (r.body && r.body.status === 'skipped') self.handleStatus(r.body);
          },
          function () {
            /* the next poll or event tells what happened */
          },
        );
      }, ms);
    });
  };

  /** Out of touch since `at` (a failed poll, a broken stream, a hidden tab); kept if earlier. */
  WaitingRoom.prototype.outOfTouch = function (at) {
    if (!this.troubleAt) this.troubleAt = at || now();
  };

  function sameOrigin(url) {
    try {
      return !root.location || new URL(url, root.location.href).origin === root.location.origin;
    } catch (e) {
      return true;
    }
  }

  function statusOf(joinBody) {
    return {
      queue: joinBody.queue,
      ticket: joinBody.ticket,
      position: joinBody.position,
      status: joinBody.status,
      ahead: joinBody.ahead,
      etaSeconds: joinBody.etaSeconds,
      etaKind: joinBody.etaKind,
      activeForSeconds: joinBody.activeForSeconds,
      windowEnd: joinBody.windowEnd,
      pollAfterSeconds: 1,
      // The queue itself: open, paused, passthrough or closed; the operator's message; a pre-queue's opening time.
      state: joinBody.state || 'open',
      message: joinBody.message === undefined ? null : joinBody.message,
      opensAt: joinBody.opensAt === undefined ? null : joinBody.opensAt,
    };
  }

  /** Progress through the line from 0 (just joined) to 1 (admitted). */
  WaitingRoom.prototype.progress = function () {
    if (!this.last) return 0;
    if (this.last.status !== 'waiting') return 1;
    var first = this.ticket && this.ticket.firstAhead;
    if (!first) return 0;
    return Math.max(0, Math.min(1, 1 - this.last.ahead / first));
  };

  WaitingRoom.prototype.handleStatus = function (s) {
    if (this.stopped || !s || this.finished) return;
    // Back in touch after a long time: a replica may have marked the visitor gone meanwhile.
    var away = this.troubleAt && now() - this.troubleAt > AWAY_AFTER_MS;
    this.troubleAt = 0;
    if (away && s.status === 'waiting' && this.ticket) {
      this.back();
      return;
    }
    s.receivedAt = now();
    this.last = s;
    this.emit('update', s);
    if (s.status === 'active' || s.status === 'expired' || s.status === 'skipped') {
      this.finished = true;
      this.stopFollowing();
      this.emit(s.status, s);
    }
  };

  /** Errors of the API: a lost ticket re-joins, an expired token ends, anything else retries. */
  WaitingRoom.prototype.handleFailure = function (err) {
    var self = this;
    this.outOfTouch();
    this.emit('error', err);
    if (this.stopped) return Promise.resolve();
    if (err.code === 'queue_reset' || err.code === 'invalid_token' || err.code === 'missing_token' || err.code === 'wrong_queue') {
      // The place cannot be honoured any more: take a new one.
      this.stopFollowing();
      this.forget();
      return this.join().then(function () {
        return undefined;
      });
    }
    if (err.code === 'token_expired') {
      this.forget();
      this.handleStatus({ status: 'expired', ticket: this.ticket ? this.ticket.ticket : 0, position: 0, ahead: 0, etaSeconds: 0, activeForSeconds: 0 });
      return Promise.resolve();
    }
    this.schedulePoll(err.retryAfterSeconds || 2);
    return Promise.resolve();
  };

  WaitingRoom.prototype.follow = function () {
    if (this.useStream) this.openStream();
    else this.schedulePoll(this.last ? this.last.pollAfterSeconds : 1);
  };

  WaitingRoom.prototype.openStream = function () {
    var self = this;
    if (this.source || this.stopped || this.finished || !this.ticket) return;
    // Same origin: the HttpOnly ticket cookie set by POST /join carries the ticket, so it
    // never appears in a URL (and so in no proxy's access log). A waitroom on another
    // origin does not get that cookie (SameSite=Strict): only then the token goes in the URL.
    var url = this.baseUrl + '/events';
    if (!sameOrigin(url)) url += '?token=' + encodeURIComponent(this.ticket.token);
    var es = new root.EventSource(url);
    var errors = 0;
    this.source = es;
    es.addEventListener('status', function (ev) {
      errors = 0;
      self.backoffMs = BACKOFF_MIN_MS;
      self.handleStatus(JSON.parse(ev.data));
    });
    es.addEventListener('problem', function (ev) {
      var body = JSON.parse(ev.data);
      self.closeStream();
      self.handleFailure(WaitroomClientError(body.error.code, body.error.message, 0, body));
    });
    es.addEventListener('end', function () {
      self.closeStream();
    });
    es.onerror = function () {
      errors++;
      // CLOSED: the server refused the stream (401, 409, 429, 503...); the browser
      // will not retry. Two failed reconnects in a row: the stream path is down.
      if (es.readyState === 2 || errors >= 2) self.fallBack();
    };
  };

  WaitingRoom.prototype.closeStream = function () {
    if (this.source) this.source.close();
    this.source = null;
  };

  /** Polls /status (which names the exact error) and tries the stream again later, with backoff. */
  WaitingRoom.prototype.fallBack = function () {
    var self = this;
    this.closeStream();
    if (this.stopped || this.finished) return;
    this.outOfTouch();
    this.emit('error', WaitroomClientError('stream_unavailable', 'live updates unavailable; polling', 0, null));
    this.schedulePoll(0);
    if (this.useStream) {
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(function () {
        self.retryTimer = 0;
        if (self.stopped || self.finished) return;
        clearTimeout(self.pollTimer);
        self.pollTimer = 0;
        self.openStream();
      }, this.backoffMs);
      this.backoffMs = Math.min(BACKOFF_MAX_MS, this.backoffMs * 2);
    }
  };

  WaitingRoom.prototype.schedulePoll = function (seconds) {
    var self = this;
    clearTimeout(this.pollTimer);
    if (this.stopped || this.finished) return;
    this.pollTimer = setTimeout(function () {
      self.pollTimer = 0;
      if (!self.ticket || self.stopped || self.finished) return;
      self.request('GET', '/status', self.ticket.token).then(
        function (r) {
          self.handleStatus(r.body);
          // Keep polling until the stream is back (it clears this timer when it reopens).
          if (!self.source) self.schedulePoll(r.body.pollAfterSeconds || 1);
        },
        function (err) {
          var ra = err.status === 503 || err.status === 429 ? 2 : 5;
          err.retryAfterSeconds = ra;
          self.handleFailure(err);
        },
      );
    }, Math.max(0, seconds) * 1000);
  };

  WaitingRoom.prototype.stopFollowing = function () {
    this.closeStream();
    clearTimeout(this.pollTimer);
    clearTimeout(this.retryTimer);
    this.pollTimer = 0;
    this.retryTimer = 0;
  };

  /**
   * Exchanges an active ticket for an admission pass (POST /claim). Resolves
   * with { pass, expiresAt, redirectUrl }, or null if this waitroom has no
   * admission endpoint (404): then send the visitor to the configured site.
   * @param {string} [returnTo]  the page the visitor wanted (the gate's return_to);
   *   the server honours it only on the protected site's origin.
   */
  WaitingRoom.prototype.claim = function (returnTo) {
    if (!this.ticket) return Promise.reject(WaitroomClientError('no_ticket', 'join first', 0, null));
    var path = returnTo ? '/claim?return_to=' + encodeURIComponent(returnTo) : '/claim';
    return this.request('POST', path, this.ticket.token).then(
      function (r) {
        return r.body;
      },
      function (err) {
        if (err.status === 404) return null;
        throw err;
      },
    );
  };

  /** Stops following without giving up the place (it stays stored for the next join()). */
  WaitingRoom.prototype.close = function () {
    this.stopped = true;
    this.stopFollowing();
  };

  /**
   * Gives the place up (POST /leave, so a queue that compensates no-shows lets the next visitor
   * in instead), stops following and forgets the ticket: the next join() takes a new place.
   * Resolves when the waitroom answered (or failed to: the place is forgotten either way).
   */
  WaitingRoom.prototype.leave = function () {
    var ticket = this.ticket;
    var waiting = !!(this.last && this.last.status === 'waiting');
    this.close();
    this.forget();
    this.last = null;
    if (!ticket || !waiting) return Promise.resolve();
    return this.request('POST', '/leave', ticket.token).then(
      function () {
        return undefined;
      },
      function () {
        return undefined;
      },
    );
  };

  root.WaitingRoom = WaitingRoom;
  if (typeof module === 'object' && module.exports) module.exports = WaitingRoom;
})(typeof window !== 'undefined' ? window : this);
