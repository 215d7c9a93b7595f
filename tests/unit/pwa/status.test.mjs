// The words of the sync state and of the sign-out question (ui/status.js), and the text Copy text copies.
import assert from 'node:assert/strict';
import { test } from 'node:test';

globalThis.self = globalThis; // the shared core publishes on self.keeptabs, as in a page
const { statusText, unsyncedWarning } = await import('../../../pwa/js/ui/status.js');
const { refusedText } = await import('../../../pwa/js/ui/refused.js');

const synced = { online: true, pending: 0, refused: 0, expired: false, failing: false, synced: true };

test('refused notes are counted apart from changes waiting', () => {
  assert.equal(statusText(synced), 'Synced');
  assert.equal(statusText({ ...synced, refused: 1 }), '1 note not synced');
  assert.equal(statusText({ ...synced, refused: 2, pending: 3 }), '3 changes waiting, 2 notes not synced');
  assert.equal(statusText({ ...synced, online: false, pending: 1, refused: 1 }), 'Offline, 1 change waiting, 1 note not synced');
});

test('sign-out asks only when something would be lost, and says how much', () => {
  assert.equal(unsyncedWarning(0, 0), null);
  assert.match(unsyncedWarning(2, 0), /^2 changes have not reached the server\. .*Sign out anyway\?$/);
  assert.match(unsyncedWarning(1, 1), /^1 change has not reached the server and 1 note not synced \(the server refused/);
  assert.match(unsyncedWarning(0, 3), /^3 notes not synced/);
});

test('Copy text copies the refused fields as a person would paste them', () => {
  const note = { title: 'Trip', body: 'Long text', tags: ['a', 'b'], refused: { keys: ['body'] } };
  assert.equal(refusedText(note), 'Long text');
  assert.equal(refusedText({ ...note, refused: { keys: ['title', 'body', 'tags'] } }), 'Trip\n\nLong text\n\n#a #b');
  assert.equal(refusedText({ ...note, refused: { keys: ['pinned'] } }), 'Trip\n\nLong text');
});
