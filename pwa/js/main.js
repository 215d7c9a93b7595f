// The page's entry point, kept tiny on purpose: it shows the right screen and focuses `New note` before the rest of
// the app (sync, IndexedDB, views) has loaded, so a thought can be typed the moment the app opens. app.js follows.
// It owns the localStorage hint "someone is signed in" because it must read it before any other module loads;
// IndexedDB stays the source of truth, and app.js corrects the screen if the hint is wrong.
const HINT = 'keeptabs.signed-in';

export const rememberSignedIn = (yes) => (yes ? localStorage.setItem(HINT, '1') : localStorage.removeItem(HINT));

const signedIn = localStorage.getItem(HINT) === '1';
document.getElementById(signedIn ? 'workspace' : 'auth').hidden = false;
if (signedIn) {
  document.getElementById('status').hidden = false;
  document.getElementById('sign-out').hidden = false;
  if (!location.hash.startsWith('#note/')) document.getElementById('new-note').focus();
  performance.mark('capture-ready');
}
import('./app.js').then(({ start }) => start());
