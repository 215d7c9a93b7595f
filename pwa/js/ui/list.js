// The `Notes` list (pinned first, then newest), its views (notes, reminders, archive, trash) and `Search notes`,
// which filters instantly over title, body and tags, offline, ignoring case and accents.
import { allNotes, edit, subscribe } from '../store.js';
import { byId, h } from './dom.js';
import { describeReminder, headline, isDue, snippet } from './format.js';

const byNewest = (a, b) => Number(b.pinned) - Number(a.pinned) || b.created_at.localeCompare(a.created_at);
const bySoonest = (a, b) => a.reminder.at.localeCompare(b.reminder.at);

export const VIEWS = {
  notes: { name: 'Notes', keep: (n) => !n.deleted && !n.archived, order: byNewest,
    empty: 'No notes yet. Type in the box above: each pause is kept on this device.' },
  reminders: { name: 'Reminders', keep: (n) => !n.deleted && n.reminder && !n.reminder.done, order: bySoonest,
    empty: 'No reminders. Open a note and choose Remind me.' },
  archive: { name: 'Archive', keep: (n) => !n.deleted && n.archived, order: byNewest, empty: 'Nothing archived.' },
  trash: { name: 'Trash', keep: (n) => n.deleted, order: byNewest, empty: 'The trash is empty.' },
};

const fold = (text) => text.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();

/** Every word of the query must appear in the title, the body or a tag. */
export function matches(note, query) {
  const words = fold(query).split(/\s+/).filter(Boolean).map((w) => w.replace(/^#/, ''));
  if (!words.length) return true;
  const haystack = fold(`${note.title}\n${note.body}\n${note.tags.join(' ')}`);
  return words.every((word) => haystack.includes(word));
}

function item(note, { current, onOpen }) {
  const badges = [];
  if (note.refused) badges.push(h('span', { class: 'badge refused', title: note.refused.reason }, 'Not synced'));
  if (note.pinned) badges.push(h('span', { class: 'badge pin' }, 'Pinned'));
  if (note.reminder) {
    const due = isDue(note.reminder);
    badges.push(h('span', { class: due ? 'badge due' : 'badge reminder' }, describeReminder(note.reminder)));
  }
  for (const tag of note.tags) badges.push(h('span', { class: 'tag' }, `#${tag}`));
  const open = h('button', { type: 'button', class: 'note-open', 'aria-current': note.id === current ? 'true' : false,
    onclick: () => onOpen(note.id) },
  h('span', { class: 'note-title' }, headline(note)),
  snippet(note) ? h('span', { class: 'note-snippet' }, snippet(note)) : null,
  badges.length ? h('span', { class: 'note-meta' }, badges) : null);
  const restore = note.deleted
    ? h('button', { type: 'button', class: 'restore', onclick: () => edit(note.id, { deleted: false }) }, 'Restore')
    : null;
  return h('li', { class: note.pinned ? 'note pinned' : 'note', dataset: { id: note.id } }, open, restore);
}

export function mountList({ onOpen }) {
  const list = byId('notes');
  const search = byId('search');
  const empty = byId('empty');
  const tabs = [...document.querySelectorAll('[data-view]')];
  let view = 'notes';
  let current = null;

  function render() {
    const { name, keep, order, empty: emptyText } = VIEWS[view];
    const query = search.value.trim();
    const shown = allNotes().filter((n) => keep(n) && matches(n, query)).sort(order);
    list.setAttribute('aria-label', name);
    list.replaceChildren(...shown.map((note) => item(note, { current, onOpen })));
    empty.textContent = query ? `No notes match “${query}”.` : emptyText;
    empty.hidden = shown.length > 0;
  }

  for (const tab of tabs) {
    tab.addEventListener('click', () => {
      view = tab.dataset.view;
      for (const other of tabs) other.setAttribute('aria-pressed', String(other === tab));
      render();
    });
  }
  search.addEventListener('input', render);
  search.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && search.value) {
      search.value = '';
      render();
    }
  });
  subscribe(render);
  // Reminders become due while the list is on screen.
  setInterval(render, 60 * 1000);
  return {
    render,
    setCurrent(id) {
      current = id;
      render();
    },
  };
}
