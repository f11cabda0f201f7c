/**
 * tools.auth_basic (before_handler, 1): HTTP Basic authentication, as
 * CherryPy's. `checkpassword(realm, user, password)` says yes or no; without a
 * valid `Authorization: Basic ...` the answer is 401 with
 * `WWW-Authenticate: Basic realm="...", charset="UTF-8"`. On success the user
 * is `cherrypy.request.login`.
 *
 *   '/admin': { 'tools.auth_basic.on': true, 'tools.auth_basic.realm': 'admin',
 *               'tools.auth_basic.checkpassword': cherrypy.checkpasswordDict({ ada: 'secret' }) }
 *
 * `checkpasswordDict` compares in constant time (hashes of both sides, then
 * timingSafeEqual), so the time taken says nothing about the password.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { HTTPError } from '../errors.ts';
import { Tool } from '../hooks.ts';

export type CheckPassword = (realm: string, user: string, password: string) => boolean | Promise<boolean>;

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/** A checkpassword for a fixed table of users and passwords, comparing in constant time. */
export function checkpasswordDict(users: Record<string, string>): CheckPassword {
  const table = new Map(Object.entries(users).map(([user, password]) => [user, sha256(password)]));
  const nobody = sha256('');
  return (_realm, user, password) => {
    const expected = table.get(user);
    // Compare even for an unknown user, so that timing does not tell which users exist.
    const same = timingSafeEqual(sha256(password), expected ?? nobody);
    return expected !== undefined && same;
  };
}

function refuse(realm: string, why: string): never {
  throw new HTTPError(401, why, { 'WWW-Authenticate': `Basic realm="${realm.replace(/["\\]/g, '')}", charset="UTF-8"` });
}

export const auth_basic = new Tool('before_handler', async ({ realm, checkpassword }, { request }) => {
  const header = request.headers.authorization;
  const match = header === undefined ? null : /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!match) return refuse(realm, 'You are not authorized to access that resource');
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw new HTTPError(400, 'Bad Authorization header');
  const user = decoded.slice(0, colon);
  if (!(await checkpassword(realm, user, decoded.slice(colon + 1)))) return refuse(realm, 'You are not authorized to access that resource');
  request.login = user;
}, { priority: 1, args: { realm: 'restricted', checkpassword: (() => false) as CheckPassword }, context: false });
