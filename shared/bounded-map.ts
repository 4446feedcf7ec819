// The one way a Map is kept to a size: setting a key makes it the newest entry, and the oldest
// entries (a Map iterates in insertion order) are forgotten beyond `max`. Caches of verified tokens,
// rate buckets, app names and a session's prepared statements all bound themselves this way.

/** Sets `key` as the newest entry of `map` and forgets the oldest entries beyond `max`. */
export function setBounded<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  map.delete(key);
  map.set(key, value);
  for (const oldest of map.keys()) {
    if (map.size <= max) return;
    map.delete(oldest);
  }
}
