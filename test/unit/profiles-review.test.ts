// Review: profile names and entries the store mishandles. Both tests fail on the current profiles.ts.
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
  it('a profile named __proto__ is stored, or refused as a usage error; never reported saved and lost', async () => {
    const store = storeIn();
    const profile = { client_account_id: 'a', key_id: 'b', api_key: 'c', base_url: 'http://127.0.0.1:1' };
    const outcome = await store.set('__proto__', profile).then(
      () => store.get('__proto__'),
      (error: unknown) => (isTcbError(error) ? error.exitCode : error),
    );
    expect([JSON.stringify(profile), 2]).toContain(typeof outcome === 'number' ? outcome : JSON.stringify(outcome));
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
    expect((error as Error).message).toContain(store.path);
  });
});
