import { QUEUE_SCRIPTS } from '../../queue/scripts';

/**
 * Redis (and a Redis Cluster above all) requires a script to touch only the keys it is given in KEYS:
 * a key built inside a script may live on another node. Each script states its keys on a `-- KEYS:`
 * line; these tests hold every `redis.call` of every script to it.
 */

/** The names a script declares on its `-- KEYS:` line (a variadic tail is written `…`). */
function declaredKeys(lua: string): { names: string[]; variadic: boolean } {
  const line = /-- KEYS: ([^·\n]*)/.exec(lua);
  if (!line) throw new Error('no -- KEYS: line');
  const names = line[1].split(',').map((n) => n.trim()).filter(Boolean);
  return { names: names.filter((n) => n !== '…' && !n.includes('(candidate')), variadic: names.some((n) => n === '…') };
}

/** The first argument after the command of every redis.call (the key, for every command these scripts use). */
function keyArguments(lua: string): string[] {
  return [...lua.matchAll(/redis\.call\('([A-Z]+)',\s*([^,)]+)/g)].map((m) => m[2].trim());
}

/** Local names a script binds only to a declared key (a helper's parameter, a loop's session key). */
function keyAliases(lua: string): Set<string> {
  const aliases = new Set<string>();
  for (const m of lua.matchAll(/local (\w+) = KEYS\[[^\]]+\]/g)) aliases.add(m[1]);
  // RATE_LIMITS' helpers: overLimit(key, …) is only ever called by refusedFor with its key parameters,
  // and refusedFor only with KEYS (checked below).
  if (/local function overLimit\(key,/.test(lua)) aliases.add('key');
  return aliases;
}

describe('every queue script declares every key it touches', () => {
  it.each(Object.entries(QUEUE_SCRIPTS))('%s', (_name, script) => {
    const { names, variadic } = declaredKeys(script.lua);
    const aliases = keyAliases(script.lua);
    const keys = keyArguments(script.lua);
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) {
      // A declared key or an alias of one; never a key built by concatenation or read from ARGV.
      expect({ key, declared: /^KEYS\[[^\]]+\]$/.test(key) || aliases.has(key) }).toEqual({ key, declared: true });
    }
    for (const call of script.lua.matchAll(/refusedFor\(([^)]*)\)/g)) {
      if (call[1].startsWith('userKey')) continue; // the definition
      const [userKey, , addressKey] = call[1].split(',').map((a) => a.trim());
      expect([userKey, addressKey].every((k) => /^KEYS\[\d+\]$/.test(k))).toBe(true);
    }
    expect(script.lua).not.toMatch(/KEYS\[[^\]]*\]\s*\.\./); // no key derived from a key
    // Literal indices stay within the declared keys, and the declared count is the one registered.
    const literal = [...script.lua.matchAll(/KEYS\[(\d+)\]/g)].map((m) => Number(m[1]));
    expect(Math.max(...literal)).toBeLessThanOrEqual(names.length);
    if (variadic) expect(script.numberOfKeys).toBeUndefined();
    else expect(script.numberOfKeys).toBe(names.length);
  });

  it('the variadic admission script reaches past its fixed keys only through the declared candidates', () => {
    const lua = QUEUE_SCRIPTS.ovAdmit.lua;
    const fixed = declaredKeys(lua).names.length;
    expect(fixed).toBe(4);
    for (const m of lua.matchAll(/KEYS\[([^\]\d][^\]]*)\]/g)) expect(m[1]).toBe(`${fixed} + i`);
    expect(lua).toMatch(new RegExp(`local candidates = #KEYS - ${fixed}`));
    expect(lua).toMatch(/while [^\n]*i <= candidates do/);
  });
});
