// The editor of one note: `Title`, `Body`, tags, `Pin`/`Unpin`, archive, `Delete` (to the trash, with undo) and
// `Remind me`. Typing is journaled at once and stored at each pause; when a sync changes the open note, the other
// device's edit is merged into the text on screen and the caret stays where the person was typing. A note the server
// refused shows `Not synced` with the reason, `Copy text` and `Discard change` (refused.js).
import { keep, settle } from '../journal.js';
import { edit, getNote, subscribe } from '../store.js';
import { byId, debounce, replaceValue } from './dom.js';
import { mountRefused } from './refused.js';
import { mountReminder } from './reminder.js';
import { toast } from './toast.js';

const PAUSE_MS = 200;
const TEXT = ['title', 'body'];
const MAX_TAGS = 50;

export const parseTags = (text) =>
  [...new Set(text.split(',').map((t) => t.trim().replace(/^#/, '').slice(0, 64)).filter(Boolean))].slice(0, MAX_TAGS);

export function mountEditor({ onClose, token }) {
  const panel = byId('editor');
  const fields = { title: byId('title'), body: byId('body') };
  const tags = byId('tags');
  let current = null;
  let saved = { title: '', body: '' };
  let queue = Promise.resolve();
  // Writes queued or running: until they land, the stored note is older than the fields, so renders leave them be.
  let writing = 0;

  const save = (changes) => (current ? edit(current, changes) : Promise.resolve());

  // Each write sends the fields that changed, with the text they were typed over, so the store can merge them onto
  // a version a sync brought in meanwhile. The fields are read when the write is queued (before a note switch).
  async function write(id, changes, basis) {
    const note = await edit(id, changes, basis);
    settle(id, changes);
    if (current !== id) return;
    for (const key of Object.keys(changes)) {
      // A merge the store made is shown unless typing went on; then `saved` stays what was written, and the next
      // write merges onto the stored text.
      if (fields[key].value === changes[key] && note[key] !== changes[key]) {
        replaceValue(fields[key], note[key]);
        saved[key] = note[key];
      }
    }
  }

  function enqueue() {
    const id = current;
    const changes = Object.fromEntries(TEXT.filter((k) => fields[k].value !== saved[k]).map((k) => [k, fields[k].value]));
    if (!id || !Object.keys(changes).length) return queue;
    const basis = { ...saved };
    Object.assign(saved, changes);
    writing += 1;
    queue = queue
      .then(() => write(id, changes, basis))
      .catch(() => toast('Could not save on this device.'))
      .finally(() => {
        writing -= 1;
      });
    return queue;
  }
  const typed = debounce(enqueue, PAUSE_MS);
  const flush = () => typed.flush() ?? queue;

  const reminder = mountReminder({ note: () => getNote(current), save, token });
  const refused = mountRefused({ note: () => getNote(current), flush: () => flush(), onGone: () => onClose() });

  function render(note) {
    byId('pin').textContent = note.pinned ? 'Unpin' : 'Pin';
    byId('archive').textContent = note.archived ? 'Unarchive' : 'Archive';
    byId('delete').textContent = note.deleted ? 'Restore' : 'Delete';
    if (document.activeElement !== tags) tags.value = note.tags.join(', ');
    reminder.render(note);
    refused.render(note);
    // Text that was not typed over since the last write follows the stored note; unsaved typing is merged on write.
    for (const key of TEXT) {
      if (!writing && fields[key].value === saved[key]) {
        replaceValue(fields[key], note[key]);
        saved[key] = note[key];
      }
    }
  }

  function open(id) {
    if (current !== id) flush();
    const note = getNote(id);
    if (!note) return false;
    current = id;
    saved = { title: note.title, body: note.body };
    fields.title.value = note.title;
    fields.body.value = note.body;
    render(note);
    reminder.close();
    panel.hidden = false;
    return true;
  }

  async function close() {
    await flush();
    current = null;
    panel.hidden = true;
  }

  for (const key of TEXT) {
    fields[key].addEventListener('input', () => {
      if (current) keep(current, { [key]: fields[key].value }, { [key]: saved[key] });
      typed();
    });
  }
  tags.addEventListener('change', () => save({ tags: parseTags(tags.value) }));
  byId('pin').addEventListener('click', () => save({ pinned: !getNote(current).pinned }));
  byId('archive').addEventListener('click', () => save({ archived: !getNote(current).archived }));
  byId('delete').addEventListener('click', async () => {
    const id = current;
    const deleting = !getNote(id).deleted;
    await flush();
    await edit(id, { deleted: deleting });
    if (!deleting) return;
    onClose();
    toast('Moved to the trash.', { action: 'Undo', onAction: () => edit(id, { deleted: false }) });
  });
  byId('editor-close').addEventListener('click', () => onClose());
  panel.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && !event.defaultPrevented) onClose();
  });
  document.addEventListener('visibilitychange', flush);
  window.addEventListener('pagehide', flush);
  subscribe((ids) => {
    if (current && (!ids || ids.includes(current)) && getNote(current)) render(getNote(current));
  });

  return { open, close, flush, current: () => current };
}
