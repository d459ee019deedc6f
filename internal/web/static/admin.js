/* Operator view: polls GET /admin/state every 2 s with the admin token kept in sessionStorage. */
(function () {
  'use strict';
  var form = document.getElementById('adm-login');
  var input = document.getElementById('adm-token');
  var table = document.getElementById('adm-table');
  var rows = document.getElementById('adm-rows');
  var note = document.getElementById('adm-note');
  var timer = 0;
  var KEY = 'waitroom:admin-token';

  function row(name, value) {
    var tr = document.createElement('tr');
    var th = document.createElement('th');
    var td = document.createElement('td');
    th.scope = 'row';
    th.textContent = name;
    td.textContent = value === null || value === undefined ? '–' : String(value);
    tr.appendChild(th);
    tr.appendChild(td);
    return tr;
  }

  function show(s) {
    var list = [
      ['Queue', s.queue],
      ['Epoch', s.epoch],
      ['Ticket counter', s.counter],
      ['Window end (W)', s.windowEnd],
      ['Waiting', s.waiting],
      ['Next tick in', s.nextTickInMs === null ? null : (s.nextTickInMs / 1000).toFixed(1) + ' s'],
      ['Window size (S)', s.settings.windowSize],
      ['Interval (I)', s.settings.intervalMs / 1000 + ' s'],
      ['Active windows (K)', s.settings.activeWindowCount],
      ['Current leader', s.leader || 'none'],
      ['This replica', s.replica.owner + (s.replica.leader ? ' (leader)' : '')],
      ['State age', s.replica.stateAgeMs === null ? null : s.replica.stateAgeMs + ' ms'],
      ['Event streams here', s.replica.eventStreams],
    ];
    rows.textContent = '';
    for (var i = 0; i < list.length; i++) rows.appendChild(row(list[i][0], list[i][1]));
    table.hidden = false;
  }

  function poll() {
    var token = sessionStorage.getItem(KEY);
    if (!token) return;
    fetch('/admin/state', { headers: { Authorization: 'Bearer ' + token }, cache: 'no-store' })
      .then(function (res) {
        return res.json().then(function (body) {
          if (!res.ok) throw new Error((body.error && body.error.code) + ': ' + (body.error && body.error.message));
          show(body);
          note.textContent = 'Updated ' + new Date().toLocaleTimeString();
        });
      })
      .catch(function (err) {
        note.textContent = String(err.message || err);
        if (/invalid_token|missing_token/.test(note.textContent)) {
          sessionStorage.removeItem(KEY);
          clearInterval(timer);
        }
      });
  }

  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    sessionStorage.setItem(KEY, input.value.trim());
    input.value = '';
    clearInterval(timer);
    poll();
    timer = setInterval(poll, 2000);
  });
  if (sessionStorage.getItem(KEY)) {
    poll();
    timer = setInterval(poll, 2000);
  }
})();
