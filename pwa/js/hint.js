// A synchronous hint that someone is signed in on this device, so the very first frame can show the capture box;
// IndexedDB (asynchronous) stays the source of truth and corrects the screen if the hint is wrong.
const HINT = 'keeptabs.signed-in';

export const probablySignedIn = () => localStorage.getItem(HINT) === '1';
export const rememberSignedIn = (yes) => (yes ? localStorage.setItem(HINT, '1') : localStorage.removeItem(HINT));
