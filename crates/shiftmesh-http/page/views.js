// The schedule as the page draws it: a week or a day as a table (rows by department or by
// person), a month as a calendar. Everything is built from the API's JSON; nothing here talks
// to the node. Rows are sorted by name and id, so they never move by themselves.

import * as dates from './dates.js';

/**
 * Who made a change, as the node can prove it: the author, the machine by its name in the
 * membership list, and "unverified" when no valid signature of that machine binds the change.
 */
export function madeBy(author, provenance) {
  let text = author || 'unknown';
  if (!provenance) return text;
  if (provenance.machine_name) text += ` on ‘${provenance.machine_name}’`;
  const marks = [];
  if (!provenance.verified) marks.push('unverified');
  if (provenance.after_revocation) marks.push("after its machine's revocation");
  return marks.length ? `${text} [${marks.join(', ')}]` : text;
}

/** Makes an element: el('div', {class: 'x', text: 'y', data: {id: 1}}, [children]). */
export function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'text') node.textContent = value;
    else if (key === 'class') node.className = value;
    else if (key === 'data') for (const [k, v] of Object.entries(value)) node.dataset[k] = v;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : value);
  }
  for (const child of [].concat(children)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** How covered a shift is: 'covered', 'short' (below minimum), 'empty' or 'over'. */
export function coverage(shift) {
  const [assigned, min, capacity] = shift.coverage.split('/');
  const a = Number(assigned);
  if (capacity !== '?' && a > Number(capacity)) return 'over';
  if (a === 0 && min !== '?' && Number(min) > 0) return 'empty';
  if (min !== '?' && a < Number(min)) return 'short';
  return 'covered';
}

const COVERAGE_WORDS = {
  covered: 'covered', short: 'below its minimum', empty: 'nobody yet', over: 'over capacity',
};

/** The conflicts each shift and person is named in, for badges. */
export function badges(conflicts) {
  const byShift = new Map();
  const byStaff = new Map();
  for (const c of conflicts) {
    for (const s of c.shifts) add(byShift, s, c);
    for (const p of c.staff) add(byStaff, p, c);
  }
  return { byShift, byStaff };
}

function add(map, key, conflict) {
  if (!map.has(key)) map.set(key, []);
  map.get(key).push(conflict);
}

export function badge(list) {
  if (!list || list.length === 0) return null;
  const worst = list.some((c) => c.severity === 'error') ? 'error' : 'warning';
  const words = list.map((c) => c.kind).join(', ');
  return el('span', {
    class: `badge ${worst}`, text: `${list.length}`, title: words,
    'aria-label': `${list.length} conflict${list.length > 1 ? 's' : ''}: ${words}`,
  });
}

/** One shift as a card: time, label, who is on it, coverage chip, conflict badge. */
export function shiftCard(shift, ctx) {
  const cover = coverage(shift);
  const label = shift.label || shift.id;
  const card = el('div', {
    class: `shift ${cover}`,
    tabindex: '0',
    data: { shift: shift.id },
    'aria-label': `${label}, ${shift.start} to ${shift.end}${shift.overnight ? ' the next day' : ''}, ${shift.coverage} assigned of minimum and capacity, ${COVERAGE_WORDS[cover]}`,
  });
  card.append(
    el('div', {}, [
      el('span', { class: 'time', text: `${shift.start}–${shift.end}` }),
      shift.overnight ? el('span', { class: 'overnight', text: ' +1 day' }) : null,
      ' ',
      el('span', { class: `chip ${cover}`, text: shift.coverage, title: 'assigned / minimum / capacity' }),
      badge(ctx.badges.byShift.get(shift.id)),
    ]),
    el('div', { class: 'label', text: label }),
  );
  const on = el('div', { class: 'people-on' });
  for (const id of shift.assigned) {
    const name = ctx.names.get(id) || id;
    on.append(el('span', { class: 'person', data: { staff: id } }, [
      name,
      ctx.manager ? el('button', {
        type: 'button', class: 'unassign', text: '×', title: `Take ${name} off this shift`,
        'aria-label': `Take ${name} off ${label}`, data: { staff: id, shift: shift.id },
      }) : null,
    ]));
  }
  card.append(on);
  if (ctx.manager) {
    card.append(el('button', {
      type: 'button', class: 'assign', text: 'Assign…', data: { shift: shift.id },
      'aria-label': `Assign someone to ${label}`,
    }));
  }
  return card;
}

/** The shifts of the view that match the filters. */
export function visibleShifts(schedule, filters, staffById) {
  const out = [];
  for (const day of schedule.days) {
    for (const shift of day.shifts) {
      if (filters.department && shift.department !== filters.department) continue;
      if (filters.skill && !shift.skills.includes(filters.skill)) continue;
      if (filters.person && !shift.assigned.includes(filters.person)) continue;
      out.push({ ...shift, date: day.date });
    }
  }
  void staffById;
  return out;
}

/** A week or a day as a table: a column per day, a row per department or per person. */
export function table(schedule, ctx) {
  const days = schedule.days.map((d) => d.date);
  const shifts = visibleShifts(schedule, ctx.filters);
  const head = el('tr', {}, [el('th', { class: 'row-head', scope: 'col', text: ctx.rows === 'person' ? 'Person' : 'Department' })]);
  for (const day of days) {
    head.append(el('th', { scope: 'col', class: day === ctx.today ? 'today' : null, text: dates.dayLabel(day) }));
  }
  const body = el('tbody');
  const cell = (day, cards) => el('td', {
    class: [day === ctx.today ? 'today' : '', cards.length === 0 ? 'no-shifts' : ''].join(' ').trim() || null,
    data: { day: dates.dayLabel(day) },
  }, cards);
  if (ctx.rows === 'person') {
    const open = shifts.filter((s) => s.assigned.length === 0 || ['short', 'empty'].includes(coverage(s)));
    body.append(el('tr', { class: 'open-shifts' }, [
      el('th', { class: 'row-head', scope: 'row', text: 'Open shifts' }),
      ...days.map((day) => cell(day, open.filter((s) => s.date === day).map((s) => shiftCard(s, ctx)))),
    ]));
    const people = new Map(schedule.people.map((p) => [p.id, p]));
    for (const person of ctx.people) {
      const inView = people.get(person.id);
      const hours = inView ? inView.minutes : 0;
      const max = person.max_minutes_week;
      const over = max !== null && max !== undefined && ctx.view === 'week' && hours > max;
      const rowHead = el('th', { class: 'row-head', scope: 'row', data: { staff: person.id } }, [
        person.name,
        badge(ctx.badges.byStaff.get(person.id)),
        el('span', {
          class: `hours${over ? ' over' : ''}`,
          text: max !== null && max !== undefined && ctx.view === 'week'
            ? `${dates.hours(hours)} of ${dates.hours(max)}` : dates.hours(hours),
        }),
      ]);
      const row = el('tr', { data: { staff: person.id } }, [rowHead]);
      for (const day of days) {
        const cards = shifts.filter((s) => s.date === day && s.assigned.includes(person.id)).map((s) => shiftCard(s, ctx));
        const bands = (inView ? inView.availability : [])
          .filter((a) => a.from.slice(0, 10) <= day && day < (a.to.slice(11) === '00:00' ? a.to.slice(0, 10) : dates.addDays(a.to.slice(0, 10), 1)))
          .map((a) => el('div', { class: `band ${a.kind}`, text: `${a.kind}${a.reason ? `: ${a.reason}` : ''}`, title: `${a.from} – ${a.to}` }));
        row.append(cell(day, [...bands, ...cards]));
      }
      body.append(row);
    }
  } else {
    const groups = new Map();
    for (const s of shifts) {
      const key = s.department || '';
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(s);
    }
    const keys = [...ctx.departments.map((d) => d.id).filter((id) => groups.has(id))];
    if (groups.has('')) keys.push('');
    if (keys.length === 0) {
      body.append(el('tr', {}, [el('td', { colspan: String(days.length + 1), text: 'No shifts in this period.' })]));
    }
    for (const key of keys) {
      const name = key ? (ctx.departmentNames.get(key) || key) : 'No department';
      const row = el('tr', { data: { department: key } }, [el('th', { class: 'row-head', scope: 'row', text: name })]);
      for (const day of days) {
        row.append(cell(day, groups.get(key).filter((s) => s.date === day).map((s) => shiftCard(s, ctx))));
      }
      body.append(row);
    }
  }
  return el('table', { class: 'week' }, [el('thead', {}, [head]), body]);
}

/** A month as a calendar: each day its number of shifts by coverage. */
export function month(schedule, ctx, onPick) {
  const grid = el('div', { class: 'month' });
  for (const name of ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun']) {
    grid.append(el('div', { class: 'head', text: name }));
  }
  const first = schedule.days[0].date;
  for (let i = 0; i < (dates.parse(first).getUTCDay() + 6) % 7; i += 1) {
    grid.append(el('div', { class: 'day outside' }));
  }
  const shifts = visibleShifts(schedule, ctx.filters);
  for (const day of schedule.days) {
    const counts = { covered: 0, short: 0, empty: 0, over: 0 };
    let conflicted = 0;
    for (const s of shifts.filter((x) => x.date === day.date)) {
      counts[coverage(s)] += 1;
      if (ctx.badges.byShift.has(s.id)) conflicted += 1;
    }
    const summary = el('div', { class: 'summary' });
    for (const [kind, n] of Object.entries(counts)) {
      if (n > 0) summary.append(el('span', { class: `chip ${kind}`, text: `${n}`, title: `${n} ${COVERAGE_WORDS[kind]}` }));
    }
    if (conflicted > 0) summary.append(el('span', { class: 'badge error', text: `${conflicted}!`, title: `${conflicted} shifts with conflicts` }));
    grid.append(el('div', { class: `day${day.date === ctx.today ? ' today' : ''}` }, [
      el('button', { type: 'button', class: 'date', text: String(dates.parse(day.date).getUTCDate()), 'aria-label': `Open ${dates.dayLabel(day.date)}`, onclick: () => onPick(day.date) }),
      summary,
    ]));
  }
  return grid;
}

const SEVERITY_ORDER = { error: 0, warning: 1 };

/** An option's label without the command-line hint it ends in ("(--staff ID)"): the page asks. */
export function optionLabel(label) {
  return label.replace(/\s*\(--[a-z-]+ [^)]*\)$/, '');
}

/** The conflicts panel: by severity and date, each in words with its options as buttons. */
export function conflictList(conflicts, ctx) {
  const list = el('div');
  if (conflicts.length === 0) {
    list.append(el('p', { class: 'hint', text: 'No open conflicts on these days.' }));
    return list;
  }
  const sorted = [...conflicts].sort((a, b) => (SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity])
    || String(a.date || '9999').localeCompare(String(b.date || '9999'))
    || a.id.localeCompare(b.id));
  for (const c of sorted.slice(0, ctx.limit)) {
    const item = el('div', { class: 'conflict', data: { conflict: c.id } }, [
      el('div', {}, [
        el('span', { class: `kind ${c.severity}`, text: c.kind.replaceAll('-', ' ') }),
        c.date ? el('span', { class: 'when', text: ` · ${dates.dayLabel(c.date)}` }) : null,
      ]),
      el('div', { text: c.message }),
    ]);
    if (c.values && c.values.length > 0 && c.kind !== 'unreadable-field') {
      item.append(el('ul', { class: 'values plain' }, c.values.map((v) => el('li', {
        text: `${typeof v.value === 'string' ? v.value : JSON.stringify(v.value)} — written by ${madeBy(v.author, v.provenance)}`,
      }))));
    }
    if (ctx.manager) {
      const options = el('div', { class: 'options' });
      for (const o of c.options) {
        options.append(el('button', {
          type: 'button', class: 'option', text: optionLabel(o.label), title: o.id,
          data: { conflict: c.id, option: o.id },
        }));
      }
      if (c.severity === 'warning' && !c.options.some((o) => o.id === 'acknowledge')) {
        options.append(el('button', { type: 'button', class: 'option', text: 'acknowledge with a note', data: { conflict: c.id, option: 'acknowledge' } }));
      }
      item.append(options);
    }
    list.append(item);
  }
  if (sorted.length > ctx.limit) {
    list.append(el('p', { class: 'hint', text: '… and more: choose a shorter period, or list them all with the command line (shiftmesh conflicts).' }));
  }
  return list;
}
