// The `New note` box: what is typed is journaled at once (journal.js) and stored at each pause (with its outbox
// entry), and the note shows in the list at once. Done (or leaving the box) starts the next note.
import { forget, keep, settle } from '../journal.js';
import { edit } from '../store.js';
import { byId, debounce, replaceValue } from './dom.js';

// A pause this long counts as "stopped typing": short enough that nothing typed before a pause is ever lost.
const PAUSE_MS = 200;

export function mountCapture() {
  const box = byId('new-note');
  const done = byId('capture-done');
  const hint = byId('capture-hint');
  let id = null;
  let saved = '';
  let stored = false; // whether this note has been written at all (else an emptied box leaves nothing behind)
  let queue = Promise.resolve();

  async function write(noteId, text, basis) {
    const note = await edit(noteId, { body: text }, { body: basis });
    settle(noteId, { body: text });
    // Show a merge the store made (another device edited this note). If typing went on meanwhile, `saved` stays
    // what was written, so the next write merges onto the stored text instead of overwriting it.
    if (id === noteId && box.value === text && note.body !== text) {
      replaceValue(box, note.body);
      saved = note.body;
    }
    if (id === noteId) hint.textContent = 'Kept on this device';
  }

  // Synchronous, at every input: the text is safe from here on, even if the page goes away before IndexedDB has it.
  function journal() {
    if (!id && !box.value.trim()) return;
    id ??= crypto.randomUUID();
    keep(id, { body: box.value }, { body: saved });
  }

  // Takes what is in the box now, synchronously; writes run one after another, each on top of the previous one.
  function enqueue() {
    const text = box.value;
    if (text === saved || (!id && !text.trim())) return queue;
    id ??= crypto.randomUUID();
    const [noteId, basis] = [id, saved];
    saved = text;
    stored = true;
    queue = queue.then(() => write(noteId, text, basis)).catch(() => {
      hint.textContent = 'Could not save on this device';
    });
    return queue;
  }
  const save = debounce(enqueue, PAUSE_MS);

  // Ends this note at once (what is typed next starts a new one); its last words are still written.
  function finish() {
    save.flush();
    const [noteId, empty, written] = [id, !box.value.trim(), stored];
    id = null;
    saved = '';
    stored = false;
    box.value = '';
    done.hidden = true;
    hint.textContent = '';
    if (noteId && empty && !written) forget(noteId);
    if (noteId && empty && written) {
      keep(noteId, { deleted: true }, {});
      queue = queue.then(() => edit(noteId, { deleted: true })).then(() => settle(noteId, { deleted: true }));
    }
    return queue;
  }

  box.addEventListener('input', () => {
    done.hidden = !box.value;
    journal();
    save();
  });
  // Leaving the box for another part of the page ends the note; switching apps only saves it.
  box.addEventListener('blur', () => (document.hasFocus() ? finish() : save.flush()));
  box.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' || (event.key === 'Enter' && (event.ctrlKey || event.metaKey))) {
      event.preventDefault();
      finish();
    }
  });
  done.addEventListener('click', finish);
  // Typing that started before this module loaded (main.js focuses the box first) is saved like any other.
  if (box.value) {
    done.hidden = false;
    journal();
    save();
  }
  document.addEventListener('visibilitychange', () => save.flush());
  window.addEventListener('pagehide', () => save.flush());
  return { focus: () => box.focus(), flush: () => save.flush() ?? queue };
}
