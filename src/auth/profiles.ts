import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import type Conf from 'conf';
import type { StoredProfile } from '../config/settings.js';
import { UsageError } from '../errors.js';
import { configLocationError, PRIVATE_FILE_MODE, PRIVATE_DIR_MODE } from './files.js';

interface ConfigShape {
  profiles: Record<string, StoredProfile>;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Profiles in a conf store at TCB_CONFIG_DIR/config.json, mode 0600 re-applied on every write.
 * Every command reads the profiles, few write them: reads parse the file with plain fs and JSON
 * (conf, with its schema validator, costs more start-up time than the rest of a command), and
 * conf is loaded only to write.
 */
export class ProfileStore {
  private store: Conf<ConfigShape> | undefined;

  constructor(readonly configDir: string) {}

  get path(): string {
    return `${this.configDir}/config.json`;
  }

  /** Reading must not create the file: env-only mode (cron) needs no config file at all. */
  exists(): boolean {
    return existsSync(this.path);
  }

  private async open(): Promise<Conf<ConfigShape>> {
    try {
      if (!this.store) {
        const { default: ConfStore } = await import('conf');
        mkdirSync(this.configDir, { recursive: true, mode: PRIVATE_DIR_MODE });
        this.store = new ConfStore<ConfigShape>({
          projectName: 'tcb',
          projectSuffix: '',
          cwd: this.configDir,
          configName: 'config',
          configFileMode: PRIVATE_FILE_MODE,
          accessPropertiesByDotNotation: false,
          defaults: { profiles: {} },
          clearInvalidConfig: false,
        });
      }
      return this.store;
    } catch (error) {
      throw configLocationError(error, this.path);
    }
  }

  /** The file as conf would read it: missing means no profiles; damaged or unreadable is exit 2. */
  all(): Record<string, StoredProfile> {
    // No prototype: a profile may be called anything, "__proto__" included.
    const all: Record<string, StoredProfile> = Object.create(null) as Record<string, StoredProfile>;
    if (!this.exists()) return all;
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(this.path, 'utf8'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return all;
      throw configLocationError(error, this.path);
    }
    const profiles = isPlainObject(parsed) ? parsed.profiles : undefined;
    if (!isPlainObject(profiles)) return all;
    for (const [name, profile] of Object.entries(profiles)) {
      if (!isPlainObject(profile)) {
        throw new UsageError(`${this.path} is damaged: profile ${JSON.stringify(name)} is not an object`, { hint: `fix or remove ${this.path}` });
      }
      all[name] = profile as StoredProfile;
    }
    return all;
  }

  get(name: string): StoredProfile | undefined {
    const profiles = this.all();
    return Object.hasOwn(profiles, name) ? profiles[name] : undefined;
  }

  async set(name: string, profile: StoredProfile): Promise<void> {
    const profiles = this.all();
    profiles[name] = profile;
    await this.write(profiles);
  }

  /** Forget the secret but keep the rest, so `auth login` can prefill it next time. */
  async forgetSecret(name: string): Promise<boolean> {
    const profiles = this.all();
    const profile = profiles[name];
    if (!profile) return false;
    const { api_key: _secret, ...rest } = profile;
    profiles[name] = rest;
    await this.write(profiles);
    return true;
  }

  private async write(profiles: Record<string, StoredProfile>): Promise<void> {
    const store = await this.open();
    try {
      store.set('profiles', profiles);
      chmodSync(store.path, PRIVATE_FILE_MODE);
    } catch (error) {
      throw configLocationError(error, this.path);
    }
  }
}
