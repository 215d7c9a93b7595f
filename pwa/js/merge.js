// Three-way merges of a note: the device's unsent edits rebased onto a newer server version, field by field, with the
// same rules the server uses (docs: shared/spec/api.md, "How concurrent edits merge").
// Shared by the page and the classic service worker (see db.js for why it publishes on self.keeptabs).
(() => {
  'use strict';

  // Words, runs of whitespace and single symbols: fine enough that edits to different words of one line both
  // survive, coarse enough that the diff stays small.
  const TOKEN = /\s+|[\p{L}\p{N}_]+|[^\s\p{L}\p{N}_]/gu;
  const tokens = (text) => text.match(TOKEN) ?? [];

  /** Lengths of the prefix and suffix all three texts share; only the middle needs a diff. */
  function sharedEnds(a, b, c) {
    const shortest = Math.min(a.length, b.length, c.length);
    let head = 0;
    while (head < shortest && a[head] === b[head] && a[head] === c[head]) head += 1;
    // Never cut a surrogate pair in two.
    if (head > 0 && /[\uD800-\uDBFF]/.test(a[head - 1])) head -= 1;
    let tail = 0;
    const room = shortest - head;
    while (tail < room && a.at(-1 - tail) === b.at(-1 - tail) && a.at(-1 - tail) === c.at(-1 - tail)) tail += 1;
    if (tail > 0 && /[\uDC00-\uDFFF]/.test(a.at(-tail))) tail -= 1;
    return [head, tail];
  }

  /**
   * Merges two edits of `base`. Edits to different places both survive; where both changed the same place, ours
   * comes first and then theirs, so nothing either side typed is lost (and a deletion cannot remove unseen text).
   */
  function mergeText(base, ours, theirs) {
    if (ours === theirs || theirs === base) return ours;
    if (ours === base) return theirs;
    const [head, tail] = sharedEnds(base, ours, theirs);
    const middle = (text) => tokens(text.slice(head, text.length - tail));
    const regions = self.Diff3.diff3Merge(middle(ours), middle(base), middle(theirs), { excludeFalseConflicts: true });
    let merged = '';
    for (const region of regions) {
      merged += region.ok ? region.ok.join('') : region.conflict.a.join('') + region.conflict.b.join('');
    }
    return ours.slice(0, head) + merged + ours.slice(ours.length - tail);
  }

  /** Tags as sets: what we added is added, what we removed is removed, the rest follows theirs. */
  function mergeTags(base, ours, theirs) {
    const added = ours.filter((tag) => !base.includes(tag));
    const removed = new Set(base.filter((tag) => !ours.includes(tag)));
    const merged = theirs.filter((tag) => !removed.has(tag));
    for (const tag of added) if (!merged.includes(tag)) merged.push(tag);
    return merged;
  }

  /**
   * The server's note with our unsent changes to `keys` replayed on top. Flags and reminders: ours wins here, and
   * the server settles truly concurrent changes by edit time when the mutation arrives.
   */
  function mergeNote(base, ours, theirs, keys) {
    const merged = { ...ours, ...theirs };
    for (const key of keys) {
      if (key === 'title' || key === 'body') merged[key] = mergeText(base[key] ?? '', ours[key], theirs[key]);
      else if (key === 'tags') merged.tags = mergeTags(base.tags ?? [], ours.tags, theirs.tags);
      else merged[key] = ours[key];
    }
    return merged;
  }

  (self.keeptabs ??= {}).merge = { mergeText, mergeTags, mergeNote };
})();
