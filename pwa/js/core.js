// The page's door to the sync core. Those files are shared with the classic service worker, which can only
// importScripts() plain scripts, so they publish on self.keeptabs; importing them here runs them in order.
import './vendor/diff3.js';
import './db.js';
import './merge.js';
import './outbox.js';
import './sync.js';

export const { db, merge, outbox, sync } = self.keeptabs;
