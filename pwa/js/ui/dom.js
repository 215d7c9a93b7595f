// Small DOM helpers: elements by id, and element creation without innerHTML (note text is never parsed as HTML).

export const byId = (id) => document.getElementById(id);

/** h('li', {class: 'x', dataset: {id}}, 'text', child) */
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === 'dataset') Object.assign(element.dataset, value);
    else if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? '' : value);
  }
  element.append(...children.flat().filter((child) => child !== null && child !== undefined && child !== false));
  return element;
}

/** Calls fn after `delay` ms without another call; flush() runs a pending call at once. */
export function debounce(fn, delay) {
  let timer = 0;
  let pending = null;
  const debounced = (...args) => {
    pending = args;
    clearTimeout(timer);
    timer = setTimeout(debounced.flush, delay);
  };
  debounced.flush = () => {
    clearTimeout(timer);
    if (!pending) return undefined;
    const args = pending;
    pending = null;
    return fn(...args);
  };
  debounced.pending = () => pending !== null;
  return debounced;
}

/**
 * Replaces a text field's value without throwing the caret around: a caret after the changed region moves with
 * the text, one before it stays.
 */
export function replaceValue(field, value) {
  if (field.value === value) return;
  const old = field.value;
  const focused = document.activeElement === field;
  const { selectionStart: start, selectionEnd: end } = field;
  let prefix = 0;
  while (prefix < old.length && prefix < value.length && old[prefix] === value[prefix]) prefix += 1;
  const shift = value.length - old.length;
  const move = (offset) => (offset <= prefix ? offset : Math.max(prefix, offset + shift));
  field.value = value;
  if (focused) field.setSelectionRange(move(start), move(end));
}
