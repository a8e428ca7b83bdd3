// Profile names and entries that plain objects and JSON make awkward.
import { readFileSync } from 'node:fs';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ProfileStore } from '../../src/auth/profiles.js';
import { isTcbError } from '../../src/errors.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function storeIn(): ProfileStore {
  const dir = mkdtempSync(path.join(tmpdir(), 'tcb-profiles-'));
  dirs.push(dir);
  return new ProfileStore(dir);
}

describe('ProfileStore', () => {
  it('a profile named __proto__ is stored like any other, beside the others', async () => {
    const store = storeIn();
    const profile = { client_account_id: 'a', key_id: 'b', api_key: 'c', base_url: 'http://127.0.0.1:1' };
    await store.set('default', { ...profile, key_id: 'd' });
    await store.set('__proto__', profile);
    const reread = new ProfileStore(store.configDir);
    expect(reread.get('__proto__')).toEqual(profile);
    expect(Object.keys(reread.all())).toEqual(['default', '__proto__']);
    expect(readFileSync(store.path, 'utf8')).toContain('"__proto__"');
  });

  it('a profile entry that is not an object is a damaged config (exit 2 naming the file), not a crash later', () => {
    const store = storeIn();
    writeFileSync(store.path, '{"profiles":{"default":null}}');
    let error: unknown;
    try {
      store.all();
    } catch (caught) {
      error = caught;
    }
    expect(isTcbError(error) ? error.exitCode : error).toBe(2);
    expect((error as Error).message).toBe(`${store.path} is damaged: profile "default" is not an object`);
  });
});
