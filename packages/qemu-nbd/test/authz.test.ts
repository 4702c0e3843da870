// The authz objects' matching rules and the DN format, in isolation (the
// behaviour of refused and accepted clients is compared with qemu-nbd in
// apps/tsemu-nbd/test/tls-authz.test.ts).
import { describe, expect, it } from 'vitest';
import { AuthzError, globMatch, parseAuthzObject } from '../src/authz.js';
import { gnutlsDn } from '../src/tls-peer.js';

describe('glob rules (fnmatch without flags)', () => {
  it.each([
    ['CN=*', 'CN=alice', true], ['CN=*', 'O=x,CN=alice', false], ['*CN=alice', 'O=x,CN=alice', true],
    ['C=GB,*,CN=?ob', 'C=GB,O=x,CN=bob', true], ['C=GB,*,CN=?ob', 'C=GB,O=x,CN=bobb', false],
    ['CN=[a-c]lice', 'CN=alice', true], ['CN=[!a-c]lice', 'CN=alice', false], ['CN=[!a-c]lice', 'CN=xlice', true],
    ['a\\*b', 'a*b', true], ['a\\*b', 'axb', false], ['[x', '[x', true], ['*a*a*a*b', 'aaaaaaaaaaaaaaaaaaaaaaaa', false],
    ['', '', true], ['*', '', true], ['?', '', false],
  ])('%j against %j: %s', (pattern, text, want) => {
    expect(globMatch(pattern, text)).toBe(want);
  });
});

describe('authz objects', () => {
  it('authz-simple allows exactly its identity', () => {
    const a = parseAuthzObject({ 'qom-type': 'authz-simple', id: 'a', identity: 'CN=x' });
    expect([a.isAllowed('CN=x'), a.isAllowed('CN=x '), a.isAllowed('cn=x')]).toEqual([true, false, false]);
  });

  it('authz-list tries rules in order, then its policy', () => {
    const a = parseAuthzObject({
      'qom-type': 'authz-list', id: 'l', policy: 'allow',
      'rules.0.match': 'CN=bad*', 'rules.0.policy': 'deny', 'rules.0.format': 'glob',
      'rules.1.match': 'CN=badge', 'rules.1.policy': 'allow',
    });
    expect([a.isAllowed('CN=badge'), a.isAllowed('CN=good')]).toEqual([false, true]);
    expect(parseAuthzObject({ 'qom-type': 'authz-list', id: 'd' }).isAllowed('anything')).toBe(false);
  });

  it('refuses what qemu-nbd 7.2 refuses', () => {
    expect(() => parseAuthzObject({ 'qom-type': 'authz-listfile', id: 'f', filename: '/x' })).toThrow(new AuthzError('invalid object type: authz-listfile'));
    expect(() => parseAuthzObject({ 'qom-type': 'authz-list', id: 'l', 'rules.2.match': 'x', 'rules.2.policy': 'deny' })).toThrow("Parameter 'rules.0' missing");
  });
});

describe("GnuTLS's DN format from Node's subject lines", () => {
  it('joins RDNs in certificate order with commas, keeping RFC 4514 escapes, GnuTLS attribute names', () => {
    expect(gnutlsDn('C=GB\nO=Tsemu Org\nL=Lon\\, don\nCN=tsemu client\nemailAddress=a@b')).toBe('C=GB,O=Tsemu Org,L=Lon\\, don,CN=tsemu client,EMAIL=a@b');
  });
});
