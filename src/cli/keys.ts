/**
 * `polyrun keys create --tenant T | list | revoke ID`: manage API keys in the keys file (only hashes are
 * stored; a new key is printed once). Takes the same --config/--data-dir/--keys-file as `serve`, so both
 * agree on where the file is.
 */
import { keysFilePath } from '../api/app.js';
import { loadConfig } from '../config/load.js';
import { KeyStore } from '../store/keys.js';
import { UsageError, parse } from './args.js';

const TENANT = /^[A-Za-z0-9._-]{1,64}$/;

export async function keysCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parse(argv, {
    tenant: { type: 'string' },
    config: { type: 'string' },
    'data-dir': { type: 'string' },
    'keys-file': { type: 'string' },
    json: { type: 'boolean' },
    admin: { type: 'boolean' },
  });
  const configArgs: string[] = [];
  for (const flag of ['config', 'data-dir', 'keys-file'] as const) {
    const v = values[flag];
    if (typeof v === 'string') configArgs.push(`--${flag}`, v);
  }
  const { config } = loadConfig(configArgs);
  const store = new KeyStore(keysFilePath(config));
  const [sub, ...rest] = positionals;
  const out = (s: string) => process.stdout.write(s);

  switch (sub) {
    case 'create': {
      const tenant = values.tenant;
      if (typeof tenant !== 'string' || !TENANT.test(tenant)) {
        throw new UsageError('keys create needs --tenant NAME (letters, digits, ".", "_", "-")');
      }
      const { key, stored } = store.create(tenant, { admin: values.admin === true });
      if (values.json) out(JSON.stringify({ id: stored.id, tenant, key, admin: stored.admin === true }) + '\n');
      else out(`${key}\n`);
      if (!values.json) process.stderr.write(`polyrun: key ${stored.id} for tenant "${tenant}" stored (hashed) in ${store.path}; it is not shown again\n`);
      return;
    }
    case 'list': {
      const keys = store.list().map(({ id, tenant, createdAt, admin }) => ({ id, tenant, createdAt, admin: admin === true }));
      if (values.json) out(JSON.stringify(keys) + '\n');
      else for (const k of keys) out(`${k.id}  ${k.tenant}  ${k.createdAt}${k.admin ? '  admin' : ''}\n`);
      return;
    }
    case 'revoke': {
      const id = rest[0];
      if (!id) throw new UsageError('keys revoke needs a key id (see polyrun keys list)');
      if (!store.revoke(id)) throw new UsageError(`no key with id ${id}`);
      out(`revoked ${id}\n`);
      return;
    }
    default:
      throw new UsageError('usage: polyrun keys create --tenant T [--admin] | keys list | keys revoke ID');
  }
}
