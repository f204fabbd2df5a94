// shiftmesh's page: signs in, shows the schedule, follows the node's event stream, and sends
// every change through the API (which checks who may make it). No build step: plain modules.

import { api, get, post, patch, del, ApiError } from './api.js';
import * as dates from './dates.js';
import {
  el, table, month, conflictList, badges, badge, shiftCard, optionLabel, madeBy,
} from './views.js';
import { ask, choose, showError, toast } from './dialogs.js';

const CONFLICTS_SHOWN = 200;
const STORED = 'shiftmesh.view';

const state = {
  me: null,
  status: null,
  view: 'week',
  rows: 'department',
  date: dates.today(),
  filters: { department: '', person: '', skill: '' },
  schedule: null,
  staff: [],
  departments: [],
  conflicts: [],
  events: null,
  loading: null,
  wanted: new Set(),
  again: false,
};

const $ = (id) => document.getElementById(id);
const isManager = () => state.me && ['owner', 'manager'].includes(state.me.access.access);
const myStaff = () => (state.me && state.me.access.access === 'staff' ? state.me.access.staff : null);

// ---- choices remembered per browser ------------------------------------------------------

function remember() {
  const { view, rows, filters } = state;
  localStorage.setItem(STORED, JSON.stringify({ view, rows, filters }));
}

function recall() {
  try {
    const saved = JSON.parse(localStorage.getItem(STORED) || '{}');
    if (['day', 'week', 'month'].includes(saved.view)) state.view = saved.view;
    if (['department', 'person'].includes(saved.rows)) state.rows = saved.rows;
    if (saved.filters) Object.assign(state.filters, saved.filters);
  } catch (e) {
    localStorage.removeItem(STORED);
  }
  // A link may say what to show: ?date=YYYY-MM-DD&view=week&rows=person.
  const asked = new URLSearchParams(window.location.search);
  if (/^\d{4}-\d{2}-\d{2}$/.test(asked.get('date') || '')) state.date = asked.get('date');
  if (['day', 'week', 'month'].includes(asked.get('view'))) state.view = asked.get('view');
  if (['department', 'person'].includes(asked.get('rows'))) state.rows = asked.get('rows');
}

// ---- loading ----------------------------------------------------------------------------

function period() {
  if (state.view === 'day') return `day=${state.date}`;
  if (state.view === 'month') return `month=${state.date}`;
  return `week=${state.date}`;
}

/** The first and last day the view shows. */
function days() {
  if (state.view === 'day') return [state.date, state.date];
  if (state.view === 'month') {
    const first = `${state.date.slice(0, 8)}01`;
    return [first, dates.addDays(dates.addMonths(first, 1), -1)];
  }
  const monday = dates.monday(state.date);
  return [monday, dates.addDays(monday, 6)];
}

/** The conflicts of the days shown (and those about no day), one more than the panel lists. */
function conflictsShown() {
  const [from, to] = days();
  return get(`/api/conflicts?from=${from}&to=${to}&limit=${CONFLICTS_SHOWN + 1}`);
}

const EVERYTHING = ['schedule', 'staff', 'departments', 'conflicts', 'status'];

const FETCH = {
  schedule: () => get(`/api/schedule?${period()}`),
  staff: () => get('/api/staff'),
  departments: () => get('/api/departments'),
  conflicts: conflictsShown,
  status: () => get('/api/status'),
};

/**
 * Fetches `parts` of what the page shows (all of it by default) and draws again; one round of
 * fetches at a time, and one more, for everything asked meanwhile, when it ends.
 */
async function load(parts = EVERYTHING) {
  for (const part of parts) state.wanted.add(part);
  if (state.loading) {
    state.again = true;
    return state.loading;
  }
  let asked = [...state.wanted];
  state.wanted.clear();
  // The whole schedule, when it is fetched, has every shift in it already.
  if (asked.includes('schedule')) asked = asked.filter((part) => !part.startsWith('shift:'));
  state.loading = (async () => {
    try {
      const fetched = await Promise.all(asked.map(fetchPart));
      const shownConflicts = JSON.stringify(state.conflicts);
      const shifts = new Map();
      asked.forEach((part, i) => {
        if (part.startsWith('shift:')) shifts.set(part.slice('shift:'.length), fetched[i]);
        else state[part] = fetched[i];
      });
      const drawable = [...shifts.values()].every((s) => s === null || s.coverage !== undefined);
      if (shifts.size > 0 && !drawable) {
        // A shift this version cannot show as a card: fetch the whole view instead.
        state.again = true;
        state.wanted.add('schedule');
      } else if (asked.some((part) => ['schedule', 'staff', 'departments'].includes(part))) {
        applyShifts(shifts);
        render();
      } else {
        // Only what changed is drawn again: a year's week has thousands of cards.
        const begun = performance.now();
        if (shifts.size > 0 && !redrawShifts(shifts)) {
          render();
        } else if (asked.includes('conflicts') && JSON.stringify(state.conflicts) !== shownConflicts) {
          const ctx = context();
          redrawBadges(ctx);
          drawConflicts(ctx);
        }
        if (asked.includes('status')) drawStatus();
        state.drawnMs = performance.now() - begun;
      }
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        showSignIn();
        return;
      }
      toast(e.message);
    } finally {
      state.loading = null;
      if (state.again) {
        state.again = false;
        load([]);
      }
    }
  })();
  return state.loading;
}

/** A part of the page to fetch; `shift:ID` is one shift (null once it is gone). */
function fetchPart(part) {
  if (!part.startsWith('shift:')) return FETCH[part]();
  const id = part.slice('shift:'.length);
  return get(`/api/shifts/${encodeURIComponent(id)}`).then((shown) => shown.shift, (e) => {
    if (e instanceof ApiError && e.status === 404) return null;
    throw e;
  });
}

/**
 * What a change reported by the event stream means the page must fetch again: a change to one
 * shift, or to who is on it, fetches that shift alone (a year's schedule has thousands in a
 * week view, and the page redraws only its card).
 */
function partsFor(event) {
  const type = event.type || '';
  if (type.startsWith('sync-')) return [];
  if (type.startsWith('peer-')) return ['status'];
  if (type.startsWith('conflict-')) return ['conflicts'];
  // What a change does to the conflicts comes as conflict events of its own.
  if (type.startsWith('assignment-') && event.shift) return [`shift:${event.shift}`];
  if (type.startsWith('entity-')) {
    if (event.collection === 'shifts' && event.id) return [`shift:${event.id}`];
    if (event.collection === 'staff') return ['schedule', 'staff', 'conflicts'];
    if (event.collection === 'departments') return ['schedule', 'departments'];
    if (['availability', 'assignments'].includes(event.collection)) return ['schedule', 'conflicts'];
  }
  return EVERYTHING;
}

/** Puts fetched shifts into the schedule the page holds (or takes out those gone or moved away). */
function applyShifts(shifts) {
  const { schedule } = state;
  if (!schedule || shifts.size === 0) return;
  for (const [id, shift] of shifts) {
    for (const day of schedule.days) day.shifts = day.shifts.filter((s) => s.id !== id);
    const day = shift && schedule.days.find((d) => d.date === shift.date);
    if (day) {
      day.shifts.push(shift);
      day.shifts.sort((a, b) => a.start.localeCompare(b.start) || a.id.localeCompare(b.id));
    }
  }
}

/**
 * Redraws only the cards of changed shifts, when rows are departments, no filter is set, and
 * each changed shift stays in its row and day; says whether it could (if not, the caller draws
 * the whole view again).
 */
function redrawShifts(shifts) {
  const before = new Map();
  for (const id of shifts.keys()) {
    before.set(id, state.schedule && state.schedule.days.flatMap((d) => d.shifts).find((s) => s.id === id));
  }
  applyShifts(shifts);
  const ctx = context();
  const unfiltered = !ctx.filters.department && !ctx.filters.person && !ctx.filters.skill;
  const inPlace = state.view !== 'month' && state.rows === 'department' && unfiltered
    && [...shifts].every(([id, shift]) => {
      const old = before.get(id);
      return shift && old && old.date === shift.date && (old.department || '') === (shift.department || '')
        && old.start === shift.start && document.querySelectorAll(`#grid .shift[data-shift="${CSS.escape(id)}"]`).length === 1;
    });
  if (!inPlace) return false;
  for (const [id, shift] of shifts) {
    const card = document.querySelector(`#grid .shift[data-shift="${CSS.escape(id)}"]`);
    card.replaceWith(shiftCard(shift, ctx));
  }
  return true;
}

// ---- drawing ----------------------------------------------------------------------------

function fillSelect(select, options, current) {
  const first = select.options[0];
  select.replaceChildren(first, ...options.map(([value, text]) => el('option', { value, text })));
  select.value = options.some(([v]) => v === current) ? current : '';
}

/** The filters' choices: every department, person and skill there is to filter by. */
function fillFilters() {
  const skills = [...new Set(state.staff.flatMap((s) => s.skills).concat(
    state.schedule.days.flatMap((d) => d.shifts.flatMap((s) => s.skills)),
  ))].sort();
  fillSelect($('filter-department'), state.departments.map((d) => [d.id, d.name]), state.filters.department);
  fillSelect($('filter-person'), [...state.staff].sort(byName).map((s) => [s.id, s.name]), state.filters.person);
  fillSelect($('filter-skill'), skills.map((s) => [s, s]), state.filters.skill);
}

/** What drawing needs besides the schedule: names, filters, people, conflicts by shift. */
function context() {
  const staffById = new Map(state.staff.map((s) => [s.id, s]));
  const names = new Map(state.staff.map((s) => [s.id, s.name]));
  const filters = {
    department: $('filter-department').value,
    person: $('filter-person').value,
    skill: $('filter-skill').value,
  };
  const people = [...state.staff]
    .filter((p) => !filters.department || p.department === filters.department)
    .filter((p) => !filters.person || p.id === filters.person)
    .filter((p) => !filters.skill || p.skills.includes(filters.skill))
    .sort(byName);
  const ctx = {
    filters,
    rows: state.rows,
    view: state.view,
    today: dates.today(),
    names,
    staffById,
    people,
    departments: [...state.departments].sort(byName),
    departmentNames: new Map(state.departments.map((d) => [d.id, d.name])),
    badges: badges(state.conflicts),
    manager: isManager(),
    limit: CONFLICTS_SHOWN,
  };
  return ctx;
}

function render() {
  const { schedule } = state;
  if (!schedule) return;
  const begun = performance.now();
  fillFilters();
  const ctx = context();
  $('period-title').textContent = state.view === 'month'
    ? dates.monthLabel(schedule.from)
    : state.view === 'day' ? dates.dayLabel(schedule.from)
      : `Week of ${dates.dayLabel(schedule.from)} – ${dates.dayLabel(schedule.to)}`;
  const grid = $('grid');
  grid.replaceChildren(state.view === 'month'
    ? month(schedule, ctx, (day) => { state.view = 'day'; state.date = day; remember(); refresh(); })
    : table(schedule, ctx));
  drawConflicts(ctx);
  drawPeople(ctx);
  drawStatus();
  drawMine();
  for (const b of document.querySelectorAll('button.view')) b.setAttribute('aria-pressed', String(b.dataset.view === state.view));
  for (const b of document.querySelectorAll('button.rows')) b.setAttribute('aria-pressed', String(b.dataset.rows === state.rows));
  $('date').value = state.date;
  // How long drawing took, and when the page was first drawn (milliseconds since it was
  // asked for), for the benchmark and the curious (window.shiftmesh.state).
  state.drawnMs = performance.now() - begun;
  state.drawnAt = state.drawnAt || performance.now();
}

function drawConflicts(ctx) {
  $('conflict-list').replaceChildren(conflictList(state.conflicts, ctx));
  $('conflict-count').textContent = state.conflicts.length > CONFLICTS_SHOWN ? `${CONFLICTS_SHOWN}+` : String(state.conflicts.length);
}

/** Brings every card's conflict badge up to date (conflicts come and go on other shifts too). */
function redrawBadges(ctx) {
  for (const card of document.querySelectorAll('#grid .shift')) {
    const wanted = badge(ctx.badges.byShift.get(card.dataset.shift));
    const shown = card.querySelector('.badge');
    if (shown && wanted && shown.title === wanted.title && shown.textContent === wanted.textContent) continue;
    if (shown) shown.remove();
    if (wanted) card.firstChild.append(wanted);
  }
}

function byName(a, b) {
  return a.name.localeCompare(b.name) || a.id.localeCompare(b.id);
}

/** The staff to drag onto shifts (managers). */
function drawPeople(ctx) {
  const box = $('people');
  if (!ctx.manager) {
    box.replaceChildren();
    return;
  }
  box.replaceChildren(el('span', { class: 'hint', text: 'Drag someone onto a shift:' }), ...ctx.people.map((p) => el('span', {
    class: 'person', draggable: 'true', data: { staff: p.id }, title: `Drag ${p.name} onto a shift`,
  }, [p.name])));
}

function drawStatus() {
  const { status } = state;
  if (!status) return;
  $('site-name').textContent = status.site || 'shiftmesh';
  $('machine').textContent = status.name;
  const members = status.peers.filter((p) => p.state === 'member');
  const connected = members.filter((p) => p.connected).length;
  const mesh = $('mesh');
  if (members.length === 0) {
    mesh.className = 'mesh ok';
    mesh.textContent = 'the only machine of the site';
  } else if (connected === 0) {
    mesh.className = 'mesh alone';
    mesh.textContent = `0 of ${members.length} machines connected`;
  } else {
    mesh.className = connected === members.length ? 'mesh ok' : 'mesh alone';
    mesh.textContent = `${connected} of ${members.length} machines connected`;
  }
  $('offline').hidden = members.length === 0 || connected > 0;
  // What `shiftmesh doctor` would warn about on this machine, each with what to do.
  const warnings = status.warnings || [];
  const attention = $('attention');
  attention.hidden = warnings.length === 0;
  attention.textContent = warnings.length === 1 ? '1 thing needs attention' : `${warnings.length} things need attention`;
  attention.title = warnings.map((w) => (w.fix ? `${w.what}: ${w.fix}` : w.what)).join('\n');
}

/** A staff account's own view: its upcoming shifts first, and its leave. */
async function drawMine() {
  const mine = myStaff();
  $('mine').hidden = !mine;
  if (!mine) return;
  const shown = await get(`/api/staff/${encodeURIComponent(mine)}`).catch(() => null);
  if (!shown) return;
  const today = dates.today();
  const times = new Map(shown.shift_times || []);
  const upcoming = shown.assignments
    .map((a) => ({ ...a, when: times.get(a.shift) || '' }))
    .filter((a) => a.when.slice(0, 10) >= today)
    .sort((a, b) => a.when.localeCompare(b.when))
    .slice(0, 14);
  $('mine-shifts').replaceChildren(...(upcoming.length ? upcoming.map((a) => el('li', { text: `${a.when} — ${a.shift}${a.role ? ` (${a.role})` : ''}` }))
    : [el('li', { class: 'hint', text: 'No upcoming shifts.' })]));
  $('mine-leave').replaceChildren(...(shown.availability.length ? shown.availability.map((a) => el('li', {}, [
    `${a.kind}: ${a.from} – ${a.to}${a.reason ? ` (${a.reason})` : ''} `,
    el('button', { type: 'button', class: 'quiet remove-leave', text: 'Remove', data: { id: a.id }, 'aria-label': `Remove ${a.kind} from ${a.from}` }),
  ])) : [el('li', { class: 'hint', text: 'None recorded.' })]));
}

// ---- signing in -------------------------------------------------------------------------

function showSignIn() {
  state.me = null;
  $('app').hidden = true;
  $('who').hidden = true;
  $('sign-in').hidden = false;
  $('login').focus();
  if (state.events) {
    state.events.close();
    state.events = null;
  }
}

async function start() {
  try {
    state.me = await get('/api/me');
  } catch (e) {
    showSignIn();
    return;
  }
  $('sign-in').hidden = true;
  $('app').hidden = false;
  $('who').hidden = false;
  const role = state.me.access.access;
  $('who-name').textContent = `${state.me.name} (${role})`;
  document.body.classList.toggle('staff-view', !isManager());
  for (const node of document.querySelectorAll('.manager-only')) node.hidden = !isManager();
  if (myStaff()) {
    state.rows = 'person';
    state.filters.person = state.filters.person || '';
  }
  await load();
  follow();
}

// ---- live -------------------------------------------------------------------------------

const SAID = {
  'assignment-created': (e) => `${e.by || 'someone'} assigned ${e.staff} to ${e.shift}`,
  'assignment-removed': (e) => `${e.by || 'someone'} took ${e.staff} off ${e.shift}`,
  'entity-created': (e) => `${e.by || 'someone'} added ${e.collection} ${e.id}`,
  'entity-updated': (e) => `${e.by || 'someone'} changed ${e.collection} ${e.id}`,
  'entity-removed': (e) => `${e.by || 'someone'} removed ${e.collection} ${e.id}`,
  'entities-changed': (e) => `${e.by || 'someone'} changed ${e.count} entries`,
};

/** Follows the node's events: every change on any machine shows at once. */
function follow() {
  if (state.events) state.events.close();
  const source = new EventSource('/api/events');
  state.events = source;
  source.onmessage = (message) => {
    let event = null;
    try {
      event = JSON.parse(message.data);
    } catch (e) {
      return;
    }
    const said = SAID[event.type];
    if (said && event.origin !== 'local-page') {
      toast(said(event));
    }
    const parts = partsFor(event);
    if (parts.length > 0) load(parts);
  };
  // The node could not give everything that was missed: fetch the whole view again.
  source.addEventListener('resync', () => load());
  source.onerror = () => {
    // EventSource reconnects by itself, with the last id it saw; meanwhile say so.
    $('mesh').className = 'mesh down';
    $('mesh').textContent = 'reconnecting to this machine…';
  };
  source.onopen = () => {
    load();
  };
}

// Hidden tabs keep no stream open (browsers allow few connections per site).
document.addEventListener('visibilitychange', () => {
  if (!state.me) return;
  if (document.hidden && state.events) {
    state.events.close();
    state.events = null;
  } else if (!document.hidden && !state.events) {
    follow();
  }
});

// ---- changes ----------------------------------------------------------------------------

function conflictLines(list) {
  return list.map((c) => el('p', { class: `consequence ${c.severity}`, text: `${c.severity === 'error' ? 'Error' : 'Warning'}: ${c.message}` }));
}

/** Assigns after showing what it would cause; the manager confirms or cancels. */
async function assign(staff, shift) {
  const name = state.staff.find((s) => s.id === staff)?.name || staff;
  let check;
  try {
    check = await post('/api/assignments', { staff, shift, check: true });
  } catch (e) {
    showError(e.message);
    return;
  }
  const ok = await ask({
    title: `Assign ${name} to ${shift}?`,
    body: check.conflicts.length
      ? [el('p', { text: 'This would cause:' }), ...conflictLines(check.conflicts)]
      : [el('p', { text: 'This causes no conflict.' })],
    confirm: check.conflicts.some((c) => c.severity === 'error') ? 'Assign anyway' : 'Assign',
  });
  if (!ok) return;
  try {
    const made = await post('/api/assignments', { staff, shift });
    toast(`Assigned ${name} to ${shift}${made.conflicts.length ? ` — ${made.conflicts.length} conflict(s)` : ''}`);
    load();
  } catch (e) {
    showError(e.message);
  }
}

/**
 * Who could take a shift, best first (as `shiftmesh cover` ranks them), then the near-misses
 * with why each misses, then everyone else by name: any of them can be chosen, and the check
 * that follows says what it would cause.
 */
async function coverOptions(shift) {
  const hours = (minutes) => `${Math.round(minutes / 6) / 10} h`;
  let ranked = [];
  try {
    const cover = await get(`/api/shifts/${encodeURIComponent(shift)}/cover`);
    ranked = [
      ...cover.candidates.map((c) => [c.staff, `${c.name}: free, ${hours(c.week_minutes)} that week${c.same_department ? ', same department' : ''}${(c.warnings || []).length ? ` (${c.warnings.join('; ')})` : ''}`]),
      ...cover.near_misses.map((m) => [m.staff, `${m.name}: ${m.reasons.join('; ')}`]),
    ];
  } catch (e) {
    // Without the ranking, everyone by name still lets the assignment be made.
  }
  const listed = new Set(ranked.map(([id]) => id));
  const rest = [...state.staff].sort(byName).filter((s) => !listed.has(s.id)).map((s) => [s.id, `${s.name} (${s.id})`]);
  return [...ranked, ...rest];
}

async function pickAndAssign(shift) {
  const options = await coverOptions(shift);
  const staff = await choose({ title: `Who could take ${shift}?`, label: 'Best first: who is free, then who nearly is and why not', options, confirm: 'Check' });
  if (staff) await assign(staff, shift);
}

async function unassign(staff, shift) {
  const name = state.staff.find((s) => s.id === staff)?.name || staff;
  const ok = await ask({ title: `Take ${name} off ${shift}?`, body: [], confirm: 'Take off', danger: true });
  if (!ok) return;
  try {
    const done = await del(`/api/assignments/${encodeURIComponent(shift)}/${encodeURIComponent(staff)}`);
    toast(done.message || `Took ${name} off ${shift}`);
    load();
  } catch (e) {
    showError(e.message);
  }
}

/** Resolves a conflict with one of its options (asking for what the option needs). */
async function resolve(id, option) {
  const conflict = state.conflicts.find((c) => c.id === id);
  if (!conflict) return;
  const body = { option };
  if (option === 'find-substitute') {
    const shown = await get(`/api/conflicts/${id}`);
    const list = shown.candidates ? shown.candidates.staff : [];
    if (list.length === 0) {
      showError('Nobody is free, skilled and under their hours for this shift.');
      return;
    }
    const staff = await choose({
      title: `Substitute for ${shown.candidates.shift}`,
      label: 'Candidates, best first',
      options: list.map((c) => [c.staff, `${c.name}: ${c.new_warnings} new warning(s), ${Math.round(c.week_minutes / 60)} h that week${c.same_department ? ', same department' : ''}`]),
      confirm: 'Give them the shift',
    });
    if (!staff) return;
    body.staff = staff;
  } else if (option === 'pick-value' || option === 'keep-version') {
    const value = await choose({
      title: option === 'pick-value' ? 'Keep which value?' : 'Keep which version?',
      label: 'Values, with who wrote each',
      options: conflict.values.map((v, i) => [option === 'keep-version' ? String(i + 1) : (typeof v.value === 'string' ? v.value : JSON.stringify(v.value)),
        `${typeof v.value === 'string' ? v.value : JSON.stringify(v.value)} — ${madeBy(v.author, v.provenance)}`]),
      confirm: 'Keep it',
    });
    if (value === null) return;
    body.value = value;
  } else if (['increase-capacity', 'edit', 'edit-shift'].includes(option)) {
    const value = await choose({ title: optionLabel(conflict.options.find((o) => o.id === option)?.label || option), label: 'New value', input: true, confirm: 'Set' });
    if (value === null) return;
    body.value = value;
  } else if (option === 'acknowledge') {
    const note = await choose({ title: 'Acknowledge this warning', label: 'Note (why it is all right)', input: true, confirm: 'Acknowledge', optional: true });
    if (note === null) return;
    try {
      await post(`/api/conflicts/${id}/ack`, { note });
      toast('Acknowledged');
      load();
    } catch (e) {
      showError(e.message);
    }
    return;
  }
  try {
    const done = await post(`/api/conflicts/${id}/resolve`, body);
    toast(done.message);
    load();
  } catch (e) {
    showError(e.message);
  }
}

/** How many recent changes the undo list offers. */
const RECENT_CHANGES = 15;

/** Lists the recent changes (who, when, what) and undoes the one chosen, as a new change. */
async function undoRecent() {
  let recent;
  try {
    recent = await get(`/api/history?limit=${RECENT_CHANGES}`);
  } catch (e) {
    showError(e.message);
    return;
  }
  if (recent.length === 0) {
    toast('No changes yet');
    return;
  }
  const when = (time) => new Date(time).toLocaleString([], { dateStyle: 'short', timeStyle: 'short' });
  const hash = await choose({
    title: 'Recent changes',
    label: 'Newest first; undoing one writes back what it replaced, and says so if a later change rewrote it',
    options: recent.map((c) => [c.hash, `${when(c.time)} · ${madeBy(c.author, c.provenance)} · ${c.message}`]),
    confirm: 'Undo this change',
  });
  if (!hash) return;
  try {
    const done = await post(`/api/history/${hash}/revert`, {});
    toast(done.message);
    load();
  } catch (e) {
    showError(e.message);
  }
}

async function editShift(id) {
  const existing = id ? (await get(`/api/shifts/${encodeURIComponent(id)}`)).shift : null;
  const fields = await choose({
    title: id ? `Edit shift ${id}` : 'Add a shift',
    form: [
      ['id', 'Id (letters, digits, -)', existing ? existing.id : '', !!id],
      ['date', 'Date', existing ? existing.date : state.date, false, 'date'],
      ['start', 'Start', existing ? existing.start : '09:00', false, 'time'],
      ['end', 'End (before the start: the next day)', existing ? existing.end : '17:00', false, 'time'],
      ['department', 'Department', existing ? existing.department || '' : state.filters.department, false, 'department'],
      ['capacity', 'Capacity', existing ? String(existing.capacity) : '1', false, 'number'],
      ['min_staff', 'Minimum staff', existing ? String(existing.min_staff) : '1', false, 'number'],
      ['label', 'Label', existing ? existing.label : ''],
    ],
    departments: state.departments,
    confirm: id ? 'Save' : 'Add',
  });
  if (!fields) return;
  const body = {
    date: fields.date, start: fields.start, end: fields.end,
    department: fields.department || undefined,
    capacity: Number(fields.capacity), min_staff: Number(fields.min_staff), label: fields.label,
  };
  try {
    const done = id ? await patch(`/api/shifts/${encodeURIComponent(id)}`, body) : await post('/api/shifts', { id: fields.id, ...body });
    toast(id ? `Saved ${id}` : `Added ${fields.id}`);
    if (done.conflicts && done.conflicts.length) toast(`${done.conflicts.length} conflict(s) now open`);
    load();
  } catch (e) {
    showError(e.message);
  }
}

async function addStaff() {
  const fields = await choose({
    title: 'Add a staff member',
    form: [
      ['id', 'Id (letters, digits, -)', ''],
      ['name', 'Name', ''],
      ['department', 'Department', state.filters.department, false, 'department'],
      ['skills', 'Skills (separated by commas)', ''],
      ['max_hours', 'Maximum hours a week (empty: no limit)', '', false, 'number'],
    ],
    departments: state.departments,
    confirm: 'Add',
  });
  if (!fields) return;
  const body = {
    id: fields.id, name: fields.name, department: fields.department || undefined,
    skills: fields.skills.split(',').map((s) => s.trim()).filter(Boolean),
  };
  if (fields.max_hours) body.max_minutes_week = Math.round(Number(fields.max_hours) * 60);
  try {
    await post('/api/staff', body);
    toast(`Added ${fields.name}`);
    load();
  } catch (e) {
    showError(e.message);
  }
}

async function addLeave(staff) {
  const fields = await choose({
    title: 'Record leave or unavailability',
    form: [
      ['from', 'From', `${state.date}T00:00`, false, 'datetime-local'],
      ['to', 'To (not included)', `${dates.addDays(state.date, 1)}T00:00`, false, 'datetime-local'],
      ['kind', 'Kind', 'leave', false, 'kind'],
      ['reason', 'Reason', ''],
    ],
    confirm: 'Record',
  });
  if (!fields) return;
  try {
    const done = await post('/api/availability', { staff, from: fields.from, to: fields.to, kind: fields.kind, reason: fields.reason });
    toast(done.conflicts && done.conflicts.length ? `Recorded — ${done.conflicts.length} conflict(s)` : 'Recorded');
    load();
  } catch (e) {
    showError(e.message);
  }
}

// ---- wiring -----------------------------------------------------------------------------

function refresh() {
  remember();
  load();
}

function move(step) {
  if (state.view === 'day') state.date = dates.addDays(state.date, step);
  else if (state.view === 'month') state.date = dates.addMonths(state.date, step);
  else state.date = dates.addDays(state.date, 7 * step);
  refresh();
}

function wire() {
  $('sign-in-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    $('sign-in-error').textContent = '';
    try {
      await post('/api/login', { login: $('login').value, password: $('password').value });
      $('password').value = '';
      await start();
    } catch (e) {
      $('sign-in-error').textContent = e.message;
    }
  });
  // On a phone there is no hovering: a tap lists each warning with what to do.
  $('attention').addEventListener('click', () => ask({
    title: 'What needs attention on this machine',
    body: (state.status.warnings || []).map((w) => el('p', { text: w.fix ? `${w.what}. What to do: ${w.fix}.` : w.what })),
    confirm: 'OK',
  }));
  $('sign-out').addEventListener('click', async () => {
    await post('/api/logout').catch(() => null);
    showSignIn();
  });
  $('prev').addEventListener('click', () => move(-1));
  $('next').addEventListener('click', () => move(1));
  $('today').addEventListener('click', () => { state.date = dates.today(); refresh(); });
  $('date').addEventListener('change', () => { if ($('date').value) { state.date = $('date').value; refresh(); } });
  for (const b of document.querySelectorAll('button.view')) {
    b.addEventListener('click', () => { state.view = b.dataset.view; refresh(); });
  }
  for (const b of document.querySelectorAll('button.rows')) {
    b.addEventListener('click', () => { state.rows = b.dataset.rows; refresh(); });
  }
  for (const id of ['filter-department', 'filter-person', 'filter-skill']) {
    $(id).addEventListener('change', () => {
      state.filters[id.slice('filter-'.length)] = $(id).value;
      remember();
      render();
    });
  }
  $('toggle-conflicts').addEventListener('click', () => {
    const panel = $('conflicts');
    panel.hidden = !panel.hidden;
    $('toggle-conflicts').setAttribute('aria-expanded', String(!panel.hidden));
    document.querySelector('.layout').classList.toggle('no-panel', panel.hidden);
  });
  $('print').addEventListener('click', () => window.print());
  $('add-shift').addEventListener('click', () => editShift(null));
  $('add-staff').addEventListener('click', () => addStaff());
  $('recent').addEventListener('click', () => undoRecent());
  $('add-my-leave').addEventListener('click', () => addLeave(myStaff()));
  document.addEventListener('click', (event) => {
    const target = event.target.closest('button');
    if (!target) return;
    if (target.classList.contains('assign')) pickAndAssign(target.dataset.shift);
    else if (target.classList.contains('unassign')) unassign(target.dataset.staff, target.dataset.shift);
    else if (target.classList.contains('option')) resolve(target.dataset.conflict, target.dataset.option);
    else if (target.classList.contains('remove-leave')) {
      del(`/api/availability/${encodeURIComponent(target.dataset.id)}`).then(() => load()).catch((e) => showError(e.message));
    }
  });
  // A shift card opens for editing with Enter or a double click (managers).
  document.addEventListener('dblclick', (event) => {
    const card = event.target.closest('.shift');
    if (card && isManager() && !event.target.closest('button')) editShift(card.dataset.shift);
  });
  document.addEventListener('keydown', (event) => {
    const card = event.target.closest && event.target.closest('.shift');
    if (card && event.key === 'Enter' && event.target === card && isManager()) editShift(card.dataset.shift);
  });
  // Drag a person onto a shift: the check comes first, then the manager confirms.
  document.addEventListener('dragstart', (event) => {
    const person = event.target.closest && event.target.closest('[data-staff][draggable]');
    if (!person) return;
    event.dataTransfer.setData('text/x-shiftmesh-staff', person.dataset.staff);
    event.dataTransfer.effectAllowed = 'copy';
  });
  document.addEventListener('dragover', (event) => {
    const card = event.target.closest && event.target.closest('.shift');
    if (!card || !isManager()) return;
    event.preventDefault();
    card.classList.add('drop-target');
  });
  document.addEventListener('dragleave', (event) => {
    const card = event.target.closest && event.target.closest('.shift');
    if (card) card.classList.remove('drop-target');
  });
  document.addEventListener('drop', (event) => {
    const card = event.target.closest && event.target.closest('.shift');
    if (!card) return;
    event.preventDefault();
    card.classList.remove('drop-target');
    const staff = event.dataTransfer.getData('text/x-shiftmesh-staff');
    if (staff) assign(staff, card.dataset.shift);
  });
}

recall();
wire();
start();

// For tests and curious users: what the page currently shows.
window.shiftmesh = { state, load, assign };
void api;
