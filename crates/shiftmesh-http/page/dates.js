// Calendar dates as the schedule has them: 'YYYY-MM-DD' strings, computed in UTC so that no
// time zone or daylight-saving change moves a day.

export function parse(text) {
  return new Date(`${text}T00:00:00Z`);
}

export function format(date) {
  return date.toISOString().slice(0, 10);
}

export function addDays(text, days) {
  const d = parse(text);
  d.setUTCDate(d.getUTCDate() + days);
  return format(d);
}

export function addMonths(text, months) {
  const d = parse(text);
  d.setUTCDate(1);
  d.setUTCMonth(d.getUTCMonth() + months);
  return format(d);
}

export function today() {
  const now = new Date();
  const local = new Date(Date.UTC(now.getFullYear(), now.getMonth(), now.getDate()));
  return format(local);
}

export function monday(text) {
  const d = parse(text);
  const back = (d.getUTCDay() + 6) % 7;
  return addDays(text, -back);
}

const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August',
  'September', 'October', 'November', 'December'];

export function weekday(text) {
  return WEEKDAYS[parse(text).getUTCDay()];
}

export function dayLabel(text) {
  const d = parse(text);
  return `${WEEKDAYS[d.getUTCDay()]} ${d.getUTCDate()} ${MONTHS[d.getUTCMonth()].slice(0, 3)}`;
}

export function monthLabel(text) {
  const d = parse(text);
  return `${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()}`;
}

export function hours(minutes) {
  const h = minutes / 60;
  return Number.isInteger(h) ? `${h} h` : `${h.toFixed(1)} h`;
}
