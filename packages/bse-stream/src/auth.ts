/**
 * Closed-by-default access for the HTTP services (the BSE feature API and `ctr serve`): one bearer
 * token read from a file (never from the command line, where `ps` shows it), compared in constant time,
 * required on every route except the liveness probe, and optional TLS. One module, used by both servers.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { InvalidArgumentError } from '@compactrec/core';

/** TLS material of an HTTPS server (PEM text). */
export interface TlsFiles {
  readonly cert: string;
  readonly key: string;
}

/**
 * Reads a bearer token from `path`: the first line, trimmed. Throws naming the file (never the token)
 * when it cannot be read, is empty, or holds characters a header cannot carry.
 */
export function readTokenFile(path: string, where: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new InvalidArgumentError(
      `${where}: cannot read the token file '${path}' (${(err as NodeJS.ErrnoException).code ?? String(err)}); pass --auth-token-file with a readable file`,
    );
  }
  const token = (text.split(/\r?\n/, 1)[0] ?? '').trim();
  if (token.length < 16) {
    throw new InvalidArgumentError(
      `${where}: the token in '${path}' is ${token.length} characters; use at least 16 (e.g. openssl rand -hex 32 > ${path})`,
    );
  }
  if (!/^[\x21-\x7e]+$/.test(token)) {
    throw new InvalidArgumentError(
      `${where}: the token in '${path}' holds spaces or non-ASCII characters; use printable ASCII (e.g. openssl rand -hex 32)`,
    );
  }
  return token;
}

/** Reads `--tls-cert` / `--tls-key` (both or neither). Throws naming the file that cannot be read. */
export function readTlsFiles(cert: string | undefined, key: string | undefined, where: string): TlsFiles | undefined {
  if (cert === undefined && key === undefined) return undefined;
  if (cert === undefined || key === undefined) {
    throw new InvalidArgumentError(`${where}: pass both --tls-cert and --tls-key (PEM files), or neither`);
  }
  const read = (path: string, flag: string): string => {
    try {
      return readFileSync(path, 'utf8');
    } catch (err) {
      throw new InvalidArgumentError(
        `${where}: cannot read ${flag} '${path}' (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
      );
    }
  };
  return { cert: read(cert, '--tls-cert'), key: read(key, '--tls-key') };
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/**
 * A checker of `Authorization` header values against `token`. Both sides are hashed to 32 bytes first,
 * so `timingSafeEqual` compares equal lengths and the time does not depend on where they differ.
 */
export function bearerChecker(token: string): (authorization: string | undefined) => boolean {
  const want = digest(`Bearer ${token}`);
  return (authorization) => {
    if (typeof authorization !== 'string') return false;
    return timingSafeEqual(digest(authorization.trim()), want);
  };
}

/** Routes answered without a token: liveness only (load balancers and orchestrators probe it). */
export const OPEN_ROUTES: ReadonlySet<string> = new Set(['/healthz']);

/** True when a request path (without query) needs no token. */
export function isOpenRoute(url: string): boolean {
  const q = url.indexOf('?');
  return OPEN_ROUTES.has(q < 0 ? url : url.slice(0, q));
}

/** True for interfaces only this machine can reach (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
