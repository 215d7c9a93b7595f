// The `New note` box: what is typed is stored at each pause (with its outbox entry), and the note shows in the list
// at once. Done (or leaving the box) starts the next note.
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
  let queue = Promise.resolve();

  async function write() {
    const text = box.value;
    if (text === saved || (!id && !text.trim())) return;
    id ??= crypto.randomUUID();
    const basis = saved;
    const note = await edit(id, { body: text }, { body: basis });
    // Show a merge the store made (another device edited this note); if typing went on meanwhile, the next write
    // merges onto the stored text instead.
    if (box.value === text) replaceValue(box, note.body);
    saved = box.value === note.body ? note.body : text;
    hint.textContent = 'Kept on this device';
  }

  // Writes run one after another, so each one starts from what the previous one stored.
  const save = debounce(() => {
    queue = queue.then(write).catch(() => {
      hint.textContent = 'Could not save on this device';
    });
    return queue;
  }, PAUSE_MS);

  async function finish() {
    await (save.flush() ?? queue);
    if (id && !box.value.trim()) await edit(id, { deleted: true });
    id = null;
    saved = '';
    box.value = '';
    done.hidden = true;
    hint.textContent = '';
  }

  box.addEventListener('input', () => {
    done.hidden = !box.value;
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
    save();
  }
  document.addEventListener('visibilitychange', () => save.flush());
  window.addEventListener('pagehide', () => save.flush());
  return { focus: () => box.focus(), flush: () => save.flush() ?? queue };
}
