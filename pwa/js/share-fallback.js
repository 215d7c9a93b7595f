// The page a share lands on when no service worker took it (the app's first visit on this device): the server kept
// the share and rendered it into this form. This hands its text to the app as a new note, through the same edit path
// as typing (note and outbox entry in one transaction), and remembers which note the share's photos belong to, so
// the app can claim them (POST /api/shares/<id>/claim) once this device is signed in. Then it opens the note.
import { db, outbox } from './core.js';

const form = document.getElementById('share');
const status = document.getElementById('share-status');
const PENDING = 'pending-shares';

function noteText(fields) {
  const text = fields.text.value.trim();
  const url = fields.url.value.trim();
  return url && !text.includes(url) ? [text, url].filter(Boolean).join('\n') : text;
}

// The share id is saved with its note id before the note is written: a reload (or a second tap) then finds the same
// note instead of making another, and writing the same text again changes nothing.
async function keep() {
  const shareId = form.dataset.share;
  const pending = (await db.getMeta(PENDING)) ?? {};
  const noteId = pending[shareId]?.note_id ?? crypto.randomUUID();
  if (!pending[shareId]) {
    pending[shareId] = { note_id: noteId, images: Number(form.dataset.images), at: new Date().toISOString() };
    await db.setMeta(PENDING, pending);
  }
  await outbox.edit(noteId, { title: form.elements.title.value.trim(), body: noteText(form.elements) });
  db.announce([noteId]);
  location.replace(`/#note/${noteId}`);
}

async function keepOrSay(event) {
  event?.preventDefault();
  try {
    await keep();
  } catch (error) {
    status.textContent = `This device could not keep it (${error.message}). Copy the text above; it is also kept on the server.`;
  }
}

form.addEventListener('submit', keepOrSay);
if (form.dataset.auto === 'true') keepOrSay();
