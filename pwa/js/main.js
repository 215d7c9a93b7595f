// The page's entry point, kept tiny on purpose: it makes sure the right screen shows and `New note` has focus before
// the rest of the app (sync, IndexedDB, views) has loaded, so a thought can be typed the moment the app opens.
// Usually there is nothing to do: the service worker serves the shell with the notes' screen already showing and the
// box autofocused. A shell from the network (the first visit, a reload past the worker) shows the sign-in screen;
// then the localStorage hint "someone is signed in", readable synchronously, corrects it. IndexedDB stays the source
// of truth, and app.js corrects the screen if the hint is wrong.
const HINT = 'keeptabs.signed-in';

export const rememberSignedIn = (yes) => (yes ? localStorage.setItem(HINT, '1') : localStorage.removeItem(HINT));

const box = document.getElementById('new-note');
const workspace = document.getElementById('workspace');
if (workspace.hidden && localStorage.getItem(HINT) === '1') {
  for (const element of document.querySelectorAll('[data-for]')) element.hidden = element.dataset.for !== 'signed-in';
}
if (!workspace.hidden && document.activeElement === box) {
  // Autofocus did it in the first frame, before this script ran: typing could start from that paint on.
  const painted = performance.getEntriesByName('first-contentful-paint')[0];
  performance.mark('capture-ready', painted && { startTime: painted.startTime });
} else if (!workspace.hidden) {
  if (!location.hash.startsWith('#note/')) box.focus();
  performance.mark('capture-ready');
}
import('./app.js').then(({ start }) => start());
