import { hostInputSchema, type Host, type HostAuthInput, type HostInput, type Settings, type SshConfigHost } from '../../shared/contract';
import { toUiError } from './errors';
import type { SliceCreator } from './types';

export type HostTest =
  | { status: 'testing' }
  | { status: 'ok'; label: string; vmCount: number }
  | { status: 'error'; message: string; kind: string | undefined };

export interface HostsSlice {
  hosts: Host[];
  hostsLoaded: boolean;
  hostsError: string | null;
  /** Last "Test connection" result per host id. */
  hostTests: Record<string, HostTest>;
  loadHosts(): Promise<void>;
  /** Saves a host; resolves to an error message, or null when saved. */
  saveHost(id: string | undefined, input: HostInput): Promise<string | null>;
  removeHost(id: string): Promise<void>;
  testHost(id: string): Promise<void>;
  /** Hosts found in ~/.ssh/config (null until asked for). */
  sshConfigHosts: SshConfigHost[] | null;
  sshConfigError: string | null;
  loadSshConfigHosts(): Promise<void>;
  /** App settings (null until loaded); here because they concern how host secrets are kept. */
  settings: Settings | null;
  settingsError: string | null;
  loadSettings(): Promise<void>;
  setAllowBasicTextSecrets(allow: boolean): Promise<void>;
}

// ---------- the form (pure) ----------

export interface HostForm {
  name: string;
  address: string;
  port: string;
  user: string;
  authKind: HostAuthInput['kind'];
  privateKeyPath: string;
  passphrase: string;
  password: string;
}

export type HostFormField = keyof HostForm;
export type HostFormErrors = Partial<Record<HostFormField, string>>;

export function emptyHostForm(): HostForm {
  return { name: '', address: '', port: '22', user: 'root', authKind: 'agent', privateKeyPath: '', passphrase: '', password: '' };
}

/**
 * A form pre-filled from an ~/.ssh/config entry. The address stays the alias, so
 * the engine resolves HostName, IdentityFile and ProxyJump from the config itself.
 */
export function sshConfigToForm(entry: SshConfigHost): HostForm {
  return {
    ...emptyHostForm(),
    name: entry.alias,
    address: entry.alias,
    port: String(entry.port),
    user: entry.user,
    authKind: entry.identityFile ? 'key' : 'agent',
    privateKeyPath: entry.identityFile ?? '',
  };
}

export function hostToForm(host: Host): HostForm {
  return {
    ...emptyHostForm(),
    name: host.name,
    address: host.address,
    port: String(host.port),
    user: host.user,
    authKind: host.authKind,
    privateKeyPath: host.privateKeyPath ?? '',
  };
}

function authOf(form: HostForm): HostAuthInput {
  if (form.authKind === 'key') {
    return { kind: 'key', privateKeyPath: form.privateKeyPath.trim(), ...(form.passphrase ? { passphrase: form.passphrase } : {}) };
  }
  if (form.authKind === 'password') return { kind: 'password', password: form.password };
  return { kind: 'agent' };
}

const AUTH_FIELD: Record<string, HostFormField> = { privateKeyPath: 'privateKeyPath', passphrase: 'passphrase', password: 'password' };

/** Checks the form with the contract's own schema; errors are keyed by form field. */
export function hostFormToInput(form: HostForm): { input: HostInput | null; errors: HostFormErrors } {
  const errors: HostFormErrors = {};
  const port = /^\d+$/.test(form.port.trim()) ? Number(form.port.trim()) : Number.NaN;
  if (!Number.isInteger(port) || port < 1 || port > 65535) errors.port = 'Port must be a number from 1 to 65535.';
  if (form.authKind === 'key' && !form.privateKeyPath.trim()) errors.privateKeyPath = 'Enter the path of the private key file.';
  if (form.authKind === 'password' && !form.password) errors.password = 'Enter the password.';
  const candidate = { name: form.name, address: form.address, port: Number.isNaN(port) ? 0 : port, user: form.user, auth: authOf(form) };
  const parsed = hostInputSchema.safeParse(candidate);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const [first, second] = issue.path;
      const field: HostFormField | undefined =
        first === 'auth' ? AUTH_FIELD[String(second)] : first === 'name' || first === 'address' || first === 'user' || first === 'port' ? first : undefined;
      if (field && !errors[field]) errors[field] = sentence(issue.message);
    }
  }
  return { input: Object.keys(errors).length === 0 && parsed.success ? parsed.data : null, errors };
}

function sentence(message: string): string {
  const s = message.charAt(0).toUpperCase() + message.slice(1);
  return /[.!?]$/.test(s) ? s : `${s}.`;
}

/** `root@pve1:22` */
export function hostAddressLabel(host: Pick<Host, 'user' | 'address' | 'port'>): string {
  return `${host.user}@${host.address}:${host.port}`;
}

// ---------- slice ----------

export const createHostsSlice: SliceCreator<HostsSlice> = (set, get, { api, fail }) => {
  /** With exactly one host, it is the one to back up and scan. */
  const adoptOnlyHost = () => {
    const hosts = get().hosts;
    const only = hosts.length === 1 ? hosts[0] : undefined;
    if (only && !get().wizard.hostId) get().setWizardHost(only.id);
    if (only && !get().leftovers.hostId) get().setLeftoversHost(only.id);
  };
  return {
  hosts: [],
  hostsLoaded: false,
  hostsError: null,
  hostTests: {},
  sshConfigHosts: null,
  sshConfigError: null,
  settings: null,
  settingsError: null,
  loadSettings: async () => {
    try {
      set({ settings: await api().invoke('settings:get', undefined), settingsError: null });
    } catch (err) {
      set({ settingsError: fail(err) });
    }
  },
  setAllowBasicTextSecrets: async (allow) => {
    try {
      set({ settings: await api().invoke('settings:set', { allowBasicTextSecrets: allow }), settingsError: null });
    } catch (err) {
      set({ settingsError: fail(err) });
    }
  },
  loadSshConfigHosts: async () => {
    try {
      set({ sshConfigHosts: await api().invoke('hosts:sshConfig', undefined), sshConfigError: null });
    } catch (err) {
      set({ sshConfigError: fail(err) });
    }
  },
  loadHosts: async () => {
    try {
      const hosts = await api().invoke('hosts:list', undefined);
      set({ hosts, hostsLoaded: true, hostsError: null });
      adoptOnlyHost();
    } catch (err) {
      set({ hostsError: fail(err), hostsLoaded: true });
    }
  },
  saveHost: async (id, input) => {
    try {
      const saved = await api().invoke('hosts:save', id ? { id, host: input } : { host: input });
      const hosts = get().hosts;
      const { [saved.id]: _stale, ...hostTests } = get().hostTests;
      set({ hosts: hosts.some((h) => h.id === saved.id) ? hosts.map((h) => (h.id === saved.id ? saved : h)) : [...hosts, saved], hostTests });
      adoptOnlyHost();
      return null;
    } catch (err) {
      return fail(err);
    }
  },
  removeHost: async (id) => {
    try {
      await api().invoke('hosts:remove', { id });
      const { [id]: _gone, ...hostTests } = get().hostTests;
      set({ hosts: get().hosts.filter((h) => h.id !== id), hostTests, hostsError: null });
      if (get().wizard.hostId === id) get().setWizardHost('');
      if (get().leftovers.hostId === id) get().setLeftoversHost('');
    } catch (err) {
      set({ hostsError: fail(err) });
    }
  },
  testHost: async (id) => {
    set({ hostTests: { ...get().hostTests, [id]: { status: 'testing' } } });
    let result: HostTest;
    try {
      const r = await api().invoke('hosts:test', { id });
      result = { status: 'ok', label: r.label, vmCount: r.vmCount };
    } catch (err) {
      result = { status: 'error', message: fail(err), kind: toUiError(err).kind };
    }
    set({ hostTests: { ...get().hostTests, [id]: result } });
  },
};
};
