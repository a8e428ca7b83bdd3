import { chmodSync, existsSync } from 'node:fs';
import Conf from 'conf';
import type { StoredProfile } from '../config/settings.js';
import { mkdirSync } from 'node:fs';
import { configLocationError, PRIVATE_FILE_MODE, PRIVATE_DIR_MODE } from './files.js';

interface ConfigShape {
  profiles: Record<string, StoredProfile>;
}

/** Profiles in a conf store at TCB_CONFIG_DIR/config.json, mode 0600 re-applied on every write. */
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

  private open(): Conf<ConfigShape> {
    try {
      return this.openStore();
    } catch (error) {
      throw configLocationError(error, this.path);
    }
  }

  private openStore(): Conf<ConfigShape> {
    if (!this.store) {
      mkdirSync(this.configDir, { recursive: true, mode: PRIVATE_DIR_MODE });
      this.store = new Conf<ConfigShape>({
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
  }

  all(): Record<string, StoredProfile> {
    if (!this.exists()) return {};
    return { ...this.open().get('profiles') };
  }

  get(name: string): StoredProfile | undefined {
    return this.all()[name];
  }

  set(name: string, profile: StoredProfile): void {
    const profiles = this.all();
    profiles[name] = profile;
    this.write(profiles);
  }

  /** Forget the secret but keep the rest, so `auth login` can prefill it next time. */
  forgetSecret(name: string): boolean {
    const profiles = this.all();
    const profile = profiles[name];
    if (!profile) return false;
    const { api_key: _secret, ...rest } = profile;
    profiles[name] = rest;
    this.write(profiles);
    return true;
  }

  private write(profiles: Record<string, StoredProfile>): void {
    const store = this.open();
    try {
      store.set('profiles', profiles);
      chmodSync(store.path, PRIVATE_FILE_MODE);
    } catch (error) {
      throw configLocationError(error, this.path);
    }
  }
}
