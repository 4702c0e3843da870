// QEMU's user-creatable objects as the tools' `--object TYPE,id=ID,...` make
// them: the keyval syntax, the property checks in QEMU's order (type, id,
// properties, identifier, duplicate id, then the object's own loading) and its
// messages. Only `secret` and `tls-creds-x509` exist here; TLS credentials are
// handed to block-nbd's registry, where the nbd driver finds them by id.
// Shared by qemu-img and qemu-io (both depend on this package, not on block-nbd).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { setSecretLookup } from '@tsemu/block-core';
import { clearTlsCredentials, parseTlsCredsObject, registerNonTlsObject, registerTlsCredentials } from '@tsemu/block-nbd';

/** A refused object definition; the message is what QEMU prints after "prog: ". */
export class UserObjectError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserObjectError';
  }
}

/** `--object help` and `--object TYPE,help`: text to print on stdout, exit status 0. */
export interface ObjectHelp {
  help: string;
}

const limits = (k: string): string[] => [`x-${k}-max-length=<int>`, `x-${k}-max=<int>`, `x-${k}=<int>`];

// Every type qemu-img 7.2 lists, with the options its `TYPE,help` prints.
const TYPES: Record<string, string[]> = {
  'authz-list': ['policy=<QAuthZListPolicy>', 'rules=<QAuthZListRule>'],
  'authz-list-file': ['filename=<string>', 'refresh=<bool>'],
  'authz-simple': ['identity=<string>'],
  'main-loop': ['aio-max-batch=<int>', 'thread-pool-max=<int>', 'thread-pool-min=<int>'],
  'pr-manager-helper': ['path=<string>'],
  secret: ['data=<string>', 'file=<string>', 'format=<QCryptoSecretFormat>', 'iv=<string>', 'keyid=<string>'],
  secret_keyring: ['format=<QCryptoSecretFormat>', 'iv=<string>', 'keyid=<string>', 'serial=<int32_t>'],
  'thread-context': ['cpu-affinity=<int>', 'node-affinity=<int>'],
  'throttle-group': ['limits=<ThrottleLimits>', ...limits('bps-read'), ...limits('bps-total'), ...limits('bps-write'), ...limits('iops-read'),
    'x-iops-size=<int>', ...limits('iops-total'), ...limits('iops-write')],
  'tls-cipher-suites': ['dir=<string>', 'endpoint=<QCryptoTLSCredsEndpoint>', 'priority=<string>', 'verify-peer=<bool>'],
  'tls-creds-anon': ['dir=<string>', 'endpoint=<QCryptoTLSCredsEndpoint>', 'priority=<string>', 'verify-peer=<bool>'],
  'tls-creds-psk': ['dir=<string>', 'endpoint=<QCryptoTLSCredsEndpoint>', 'priority=<string>', 'username=<string>', 'verify-peer=<bool>'],
  'tls-creds-x509': ['dir=<string>', 'endpoint=<QCryptoTLSCredsEndpoint>', 'passwordid=<string>', 'priority=<string>', 'sanity-check=<bool>', 'verify-peer=<bool>'],
};

/** Objects made so far, by id (QEMU's /objects container). */
const objects = new Map<string, { type: string; data?: Uint8Array }>();

/** Forgets every object (a new tool invocation in the same process). */
export function resetUserObjects(): void {
  if (objects.size > 0) clearTlsCredentials();
  objects.clear();
}

/** The bytes of a `secret` object, for drivers that take a key-secret/password-secret id. */
export function findSecret(id: string): Uint8Array | undefined {
  const o = objects.get(id);
  return o?.type === 'secret' ? o.data : undefined;
}
// Drivers opening an image look secrets up here (block-core's OpenContext.secret).
setSecretLookup(findSecret);

interface KeyvalResult {
  props: Map<string, string>;
  /** Heads of dotted keys (a.b=...), which no supported object takes. */
  dotted: Set<string>;
  help: boolean;
}

const KEY_NAME = /^[A-Za-z][A-Za-z0-9_-]*$/;
const KEY_INDEX = /^[0-9]+$/;

/** A key as QEMU's keyval takes it: dot-separated QAPI names, list indices after the first (rules.0.match). */
function validKey(key: string): boolean {
  return key.split('.').every((f, i) => KEY_NAME.test(f) || (i > 0 && KEY_INDEX.test(f)));
}

/** QEMU's keyval syntax with qom-type as the implied first key; ",," is a comma inside values only. */
function parseKeyval(text: string): KeyvalResult {
  const props = new Map<string, string>();
  const dotted = new Set<string>();
  let help = false;
  let pos = 0;
  let first = true;
  while (pos < text.length) {
    let end = pos;
    while (end < text.length && text[end] !== '=' && text[end] !== ',') end++;
    const key = text.slice(pos, end);
    if (text[end] !== '=') {
      if (key === 'help' || key === '?') help = true;
      else if (first && key !== '') props.set('qom-type', key);
      else if (!validKey(key)) throw new UserObjectError(`Invalid parameter '${key}'`);
      else throw new UserObjectError(`Expected '=' after parameter '${key}'`);
      pos = end + 1;
      first = false;
      continue;
    }
    if (!validKey(key)) throw new UserObjectError(`Invalid parameter '${key}'`);
    let value = '';
    let i = end + 1;
    for (; i < text.length; i++) {
      if (text[i] === ',') {
        if (text[i + 1] !== ',') break;
        i++;
      }
      value += text[i];
    }
    const dot = key.indexOf('.');
    if (dot >= 0) dotted.add(key.slice(0, dot));
    else props.set(key, value);
    pos = i + 1;
    first = false;
  }
  for (const head of dotted) {
    if (props.has(head)) throw new UserObjectError(`Parameters '${head}.*' used inconsistently`);
  }
  return { props, dotted, help };
}

function parseBool(name: string, v: string): boolean {
  if (v === 'on' || v === 'yes' || v === 'true') return true;
  if (v === 'off' || v === 'no' || v === 'false') return false;
  throw new UserObjectError(`Parameter '${name}' expects 'on' or 'off'`);
}

/** qemu-nbd also creates iothreads (qemu-img and qemu-io do not list them). */
export const IOTHREAD_OPTIONS = [
  'aio-max-batch=<int>', 'poll-grow=<int>', 'poll-max-ns=<int>', 'poll-shrink=<int>', 'thread-pool-max=<int>', 'thread-pool-min=<int>',
];

/** The types a tool lists: qemu-img's and qemu-io's, plus `extra` (qemu-nbd's iothread), in name order. */
function typesFor(extra: Record<string, string[]>): Record<string, string[]> {
  const all: Record<string, string[]> = { ...TYPES, ...extra };
  return Object.fromEntries(Object.keys(all).sort().map((k) => [k, all[k]!]));
}

function listText(types: Record<string, string[]> = TYPES): string {
  return `List of user creatable objects:\n${Object.keys(types).map((t) => `  ${t}\n`).join('')}`;
}

/**
 * `--object help` / `--object TYPE,help` (with or without other properties):
 * the text qemu prints on stdout; undefined when the definition asks for no
 * help. A definition that is not keyval syntax throws UserObjectError.
 * `extra`: the tool's own types besides qemu-img's (qemu-nbd: iothread).
 */
export function userObjectHelp(def: string, extra: Record<string, string[]> = {}): string | undefined {
  // Keyval syntax errors come first, as in QEMU (list keys such as authz-list's rules.0.match parse).
  const { props, help } = parseKeyval(def);
  if (!help) return undefined;
  const types = typesFor(extra);
  const type = props.get('qom-type');
  return type !== undefined && types[type] ? `${type} options:\n${types[type].map((o) => `  ${o}\n`).join('')}` : listText(types);
}

/**
 * Makes one object from an --object argument. Returns help text when the
 * definition asks for it; throws UserObjectError with QEMU's message otherwise.
 */
export function createUserObject(def: string): ObjectHelp | undefined {
  const { props, dotted, help } = parseKeyval(def);
  const type = props.get('qom-type');
  if (help) return { help: type !== undefined && TYPES[type] ? `${type} options:\n${TYPES[type].map((o) => `  ${o}\n`).join('')}` : listText() };
  if (type === undefined) throw new UserObjectError("Parameter 'qom-type' is missing");
  if (!TYPES[type]) throw new UserObjectError(`Parameter 'qom-type' does not accept value '${type}'`);
  const id = props.get('id');
  if (id === undefined) throw new UserObjectError("Parameter 'id' is missing");
  if (type !== 'secret' && type !== 'tls-creds-x509') {
    checkNewId(id);
    createOther(type, def);
    objects.set(id, { type });
    return undefined;
  }
  const allowed = new Set(TYPES[type].map((o) => o.slice(0, o.indexOf('='))));
  for (const head of dotted) {
    if (!allowed.has(head)) throw new UserObjectError(`Parameter '${head}' is unexpected`);
    throw new UserObjectError(`Parameters '${head}.*' are unexpected`);
  }
  for (const [k, v] of props) {
    if (k === 'qom-type' || k === 'id') continue;
    if (k === 'loaded') throw new UserObjectError(`Property '${type}.loaded' is not writable`);
    if (!allowed.has(k)) throw new UserObjectError(`Parameter '${k}' is unexpected`);
    if (k === 'endpoint' && v !== 'client' && v !== 'server') throw new UserObjectError(`Parameter 'endpoint' does not accept value '${v}'`);
    if (k === 'format' && v !== 'raw' && v !== 'base64') throw new UserObjectError(`Parameter 'format' does not accept value '${v}'`);
    if (k === 'verify-peer' || k === 'sanity-check') parseBool(k, v);
  }
  checkNewId(id);
  // As in QEMU, the object is in the container while it loads (a secret's keyid may name itself), and leaves it on failure.
  const entry: { type: string; data?: Uint8Array } = { type };
  objects.set(id, entry);
  try {
    if (type === 'secret') {
      entry.data = loadSecret(props);
      registerNonTlsObject(id);
    }
    else loadX509(id, props);
  } catch (err) {
    objects.delete(id);
    throw err;
  }
  return undefined;
}

/** QOM's rule for an object id (QEMU's id_wellformed), with its error and hint. */
export function checkObjectId(id: string): void {
  if (!/^[A-Za-z][A-Za-z0-9._-]*$/.test(id)) {
    throw new UserObjectError("Parameter 'id' expects an identifier\nIdentifiers consist of letters, digits, '-', '.', '_', starting with a letter.");
  }
}

function checkNewId(id: string): void {
  checkObjectId(id);
  if (objects.has(id)) throw new UserObjectError(`attempt to add duplicate property '${id}' to object (type 'container')`);
}

/** Types QEMU has and tsemu does not model: block-nbd may know some (PSK credentials); the rest are refused. */
function createOther(type: string, def: string): void {
  if (type.startsWith('tls-creds-')) {
    try {
      registerTlsCredentials(parseTlsCredsObject(def));
      return;
    } catch (err) {
      throw new UserObjectError(err instanceof Error ? err.message : String(err));
    }
  }
  throw new UserObjectError(`Object type '${type}' is not supported yet`);
}

function decodeBase64(text: string): Uint8Array {
  if (!/^[A-Za-z0-9+/=]*$/.test(text)) throw new UserObjectError('Base64 data contains invalid characters');
  // As GLib's decoder: a trailing incomplete group of four characters yields nothing.
  return Buffer.from(text.slice(0, text.length - (text.length % 4)), 'base64');
}

function loadSecret(p: Map<string, string>): Uint8Array {
  const data = p.get('data');
  const file = p.get('file');
  if (data !== undefined && file !== undefined) throw new UserObjectError("'file' and 'data' are mutually exclusive");
  let raw: Uint8Array;
  if (data !== undefined) raw = Buffer.from(data, 'utf8');
  else if (file !== undefined) raw = readSecretFile(file);
  else throw new UserObjectError("Either 'file' or 'data' must be provided");
  const bytes = p.get('format') === 'base64' ? decodeBase64(Buffer.from(raw).toString('latin1')) : raw;
  // keyid=: `bytes` is ciphertext (as `openssl enc -aes-256-cbc` makes it); the plaintext is the secret.
  const keyid = p.get('keyid');
  return keyid !== undefined ? decryptSecret(keyid, p.get('iv'), bytes) : bytes;
}

function readSecretFile(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // GLib's wording (g_file_get_contents), which QEMU passes on.
    if (code === 'EISDIR') throw new UserObjectError(`Unable to read ${path}: Error reading file “${path}”: Is a directory`);
    throw new UserObjectError(`Unable to read ${path}: Failed to open file “${path}”: ${errnoText(code)}`);
  }
}

/** AES-256-CBC under the 32-byte secret `keyid`, a base64 iv, PKCS#7 padding removed. */
function decryptSecret(keyid: string, ivText: string | undefined, data: Uint8Array): Uint8Array {
  const keyObj = objects.get(keyid);
  if (!keyObj || keyObj.type !== 'secret') throw new UserObjectError(`No secret with id '${keyid}'`);
  if (!keyObj.data) throw new UserObjectError(`Secret with id '${keyid}' has no data`);
  if (keyObj.data.length !== 32) throw new UserObjectError('Key should be 32 bytes in length');
  if (ivText === undefined) throw new UserObjectError('IV is required to decrypt secret');
  let iv: Uint8Array;
  try {
    iv = decodeBase64(ivText);
  } catch {
    iv = new Uint8Array(0);
  }
  if (iv.length !== 16) throw new UserObjectError(`IV should be 16 bytes in length not ${iv.length}`);
  if (data.length % 16 !== 0) throw new UserObjectError(`Length ${data.length} must be a multiple of block size 16`);
  const d = nodeCrypto().createDecipheriv('aes-256-cbc', keyObj.data, iv);
  d.setAutoPadding(false);
  const plain: Buffer = Buffer.concat([d.update(data), d.final()]);
  // PKCS#7: the last byte says how many padding bytes to drop.
  const pad = plain.length > 0 ? plain[plain.length - 1]! : 0;
  return plain.subarray(0, Math.max(0, plain.length - pad));
}

function errnoText(code: string | undefined): string {
  switch (code) {
    case 'ENOENT': return 'No such file or directory';
    case 'ENOTDIR': return 'Not a directory';
    case 'EACCES': return 'Permission denied';
    case 'EISDIR': return 'Is a directory';
    default: return code ?? 'Input/output error';
  }
}

/** QEMU joins with a plain '/', so dir= and dir=x/ print as it prints them. */
const cred = (dir: string, name: string): string => `${dir}/${name}`;

/** Reads one PEM file of the credentials directory; undefined when absent and optional. */
function pem(dir: string, name: string, required: boolean): string | undefined {
  const path = cred(dir, name);
  try {
    return readFileSync(path, 'latin1');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (!required && code === 'ENOENT') return undefined;
    throw new UserObjectError(`Unable to access credentials ${path}: ${errnoText(code)}`);
  }
}

/**
 * tls-creds-x509 loads and checks its files when made, as QEMU does: a
 * missing file, an unreadable certificate, a key that is not the
 * certificate's, or (sanity-check=on) our certificate not issued by our CA
 * stop the tool before it opens anything.
 */
function loadX509(id: string, p: Map<string, string>): void {
  const dir = p.get('dir');
  if (dir === undefined) throw new UserObjectError("Missing 'dir' property value");
  const passwordid = p.get('passwordid');
  const endpoint = (p.get('endpoint') ?? 'client') as 'client' | 'server';
  const server = endpoint === 'server';
  const caPath = cred(dir, 'ca-cert.pem');
  const certPath = cred(dir, server ? 'server-cert.pem' : 'client-cert.pem');
  const keyPath = cred(dir, server ? 'server-key.pem' : 'client-key.pem');
  const caText = pem(dir, 'ca-cert.pem', true)!;
  const certText = pem(dir, server ? 'server-cert.pem' : 'client-cert.pem', server);
  const keyText = pem(dir, server ? 'server-key.pem' : 'client-key.pem', server);
  if (passwordid !== undefined && findSecret(passwordid) === undefined) throw new UserObjectError(`No secret with id '${passwordid}'`);
  const crypto = nodeCrypto();
  let ca: import('node:crypto').X509Certificate;
  try {
    ca = new crypto.X509Certificate(caText);
  } catch {
    throw new UserObjectError(`Unable to import CA certificate list ${caPath}`);
  }
  if (certText !== undefined && keyText !== undefined) {
    let cert: import('node:crypto').X509Certificate;
    try {
      cert = new crypto.X509Certificate(certText);
    } catch {
      throw new UserObjectError(`Unable to import ${server ? 'server' : 'client'} certificate ${certPath}: Base64 unexpected header error.`);
    }
    let matches = false;
    try {
      const pass = passwordid !== undefined ? Buffer.from(findSecret(passwordid)!) : undefined;
      matches = cert.checkPrivateKey(crypto.createPrivateKey({ key: keyText, passphrase: pass }));
    } catch {
      matches = false;
    }
    if (!matches) throw new UserObjectError(`Cannot load certificate '${certPath}' & key '${keyPath}': The certificate and the given key do not match.`);
    const sanity = p.has('sanity-check') ? parseBool('sanity-check', p.get('sanity-check')!) : true;
    if (sanity && !(cert.checkIssued(ca) && cert.verify(ca.publicKey))) {
      throw new UserObjectError(`Our own certificate ${certPath} failed validation against ${caPath}: The certificate hasn't got a known issuer`);
    }
  }
  const verifyPeer = p.has('verify-peer') ? parseBool('verify-peer', p.get('verify-peer')!) : true;
  registerTlsCredentials({ id, dir, endpoint, verifyPeer });
}

// node:crypto costs start-up time; only runs that define TLS objects load it.
let cryptoModule: typeof import('node:crypto') | undefined;
function nodeCrypto(): typeof import('node:crypto') {
  return (cryptoModule ??= createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto'));
}
