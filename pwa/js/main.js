// The page's entry point, kept tiny on purpose: it shows the right screen and focuses `New note` before the rest of
// the app (sync, IndexedDB, views) has loaded, so a thought can be typed the moment the app opens. app.js follows.
import { probablySignedIn } from './hint.js';

const signedIn = probablySignedIn();
document.getElementById(signedIn ? 'workspace' : 'auth').hidden = false;
if (signedIn) {
  document.getElementById('status').hidden = false;
  document.getElementById('sign-out').hidden = false;
  if (!location.hash.startsWith('#note/')) document.getElementById('new-note').focus();
  performance.mark('capture-ready');
}
import('./app.js').then(({ start }) => start());
