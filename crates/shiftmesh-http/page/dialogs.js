// The page's one dialog (a native <dialog>: focus stays inside, Escape cancels), used to
// confirm, to choose, and to fill a small form; and the toasts that say what happened.

import { el } from './views.js';

const TOAST_MS = 5000;
const TOASTS_MAX = 4;

const dialog = () => document.getElementById('dialog');

/** Shows the dialog; resolves with `read()` when confirmed, null when cancelled. */
function open({ title, body, confirm, danger }, read) {
  const d = dialog();
  document.getElementById('dialog-title').textContent = title;
  document.getElementById('dialog-body').replaceChildren(...body);
  document.getElementById('dialog-error').textContent = '';
  const ok = el('button', { type: 'submit', value: 'ok', class: danger ? 'danger' : 'primary', text: confirm || 'OK' });
  const cancel = el('button', { type: 'submit', value: 'cancel', formnovalidate: true, text: 'Cancel' });
  document.getElementById('dialog-actions').replaceChildren(cancel, ok);
  return new Promise((resolve) => {
    const done = () => {
      d.removeEventListener('close', done);
      resolve(d.returnValue === 'ok' ? read() : null);
    };
    d.addEventListener('close', done);
    d.returnValue = '';
    d.showModal();
    const first = d.querySelector('#dialog-body input, #dialog-body select, #dialog-body textarea');
    (first || ok).focus();
  });
}

/** Asks to confirm; resolves true or false. */
export async function ask(options) {
  return (await open(options, () => true)) === true;
}

const KINDS = ['leave', 'unavailable', 'undesired', 'desired'];

/**
 * Asks for a choice among `options` ([value, text]), for one text (`input`), or for the fields
 * of a small `form` ([name, label, value, readonly, type]); resolves with it, or null.
 */
export function choose({ title, label, options, input, form, confirm, optional, departments }) {
  const body = [];
  let read = () => null;
  if (options) {
    const list = el('div', { role: 'radiogroup', 'aria-label': label, class: 'candidates' });
    options.forEach(([value, text], i) => {
      const id = `choice-${i}`;
      list.append(el('div', {}, [
        el('input', { type: 'radio', name: 'choice', id, value, checked: i === 0 }),
        ' ',
        el('label', { for: id, text }),
      ]));
    });
    body.push(el('p', { text: label }), list);
    read = () => {
      const picked = list.querySelector('input:checked');
      return picked ? picked.value : null;
    };
  } else if (input) {
    const field = el('input', { id: 'choice-input', required: optional ? null : true });
    body.push(el('label', { for: 'choice-input', text: label }), field);
    read = () => field.value;
  } else if (form) {
    const fields = {};
    for (const [name, text, value, readonly, type] of form) {
      const id = `field-${name}`;
      let field;
      if (type === 'department') {
        field = el('select', { id }, [el('option', { value: '', text: '(none)' }),
          ...(departments || []).map((d) => el('option', { value: d.id, text: d.name, selected: d.id === value }))]);
      } else if (type === 'kind') {
        field = el('select', { id }, KINDS.map((k) => el('option', { value: k, text: k, selected: k === value })));
      } else {
        field = el('input', { id, value, type: type || 'text', readonly: readonly ? true : null });
      }
      fields[name] = field;
      body.push(el('label', { for: id, text }), field);
    }
    read = () => Object.fromEntries(Object.entries(fields).map(([k, f]) => [k, f.value]));
  }
  return open({ title, body, confirm }, read);
}

/** Says what went wrong, in the node's words. */
export function showError(message) {
  toast(message, true);
}

/** A short note in the corner, read out to screen readers. */
export function toast(message, error) {
  const box = document.getElementById('toasts');
  const note = el('div', { class: 'toast', role: error ? 'alert' : null, text: message });
  box.append(note);
  while (box.children.length > TOASTS_MAX) box.firstChild.remove();
  setTimeout(() => note.remove(), TOAST_MS);
}
