// Text that reaches status, events or logs and may carry something it must not: user information in URLs
// (https://user:password@host) and bodies of remote servers. Pure.

const USERINFO = /([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)[^\s/?#@]*@/g;

/** Replaces the user information of every URL in `text` with "***". */
export function redactUrls(text: string): string {
  return text.replace(USERINFO, '$1***@');
}

/** An endpoint as it may be printed (user information removed). */
export const printableEndpoints = (endpoints: readonly string[]): string => endpoints.map(redactUrls).join(', ');

/** Printable ASCII only, user information redacted, at most `max` characters. */
export function boundedText(text: string, max = 512): string {
  const clean = redactUrls(text).replace(/[^\x20-\x7e]+/g, ' ');
  return clean.length > max ? `${clean.slice(0, max - 3)}...` : clean;
}

/** A short identifier from a remote server (a version, an error type): kept only when it looks like one. */
export function remoteToken(value: string | undefined, pattern = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/): string | undefined {
  return value !== undefined && pattern.test(value) ? value : undefined;
}

/** Error types as Elasticsearch and OpenSearch name them (security_exception, index_not_found_exception, ...). */
const ERROR_TYPE = /^[a-z][a-z0-9_]{1,63}_(exception|error)$/;

/** "METHOD /path: NNN <whatever the server said>", as the search client words a non-2xx answer. */
const HTTP_FAILURE = /^(GET|HEAD|PUT|POST|DELETE|PATCH) (\S{1,256}): ([1-5][0-9]{2})(?: ([\s\S]*))?$/;

/**
 * The message of a backend error, fit for status and events: a non-2xx answer keeps its method, path, status
 * code and at most a recognised error type; the rest of what the remote server said is dropped. Other messages
 * (our own wording around connection errors) are bounded and redacted.
 */
export function backendErrorMessage(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const m = HTTP_FAILURE.exec(message);
  if (m) {
    const type = remoteToken(m[4]?.trim(), ERROR_TYPE);
    return boundedText(`${m[1]} ${m[2]}: the backend answered HTTP ${m[3]}${type ? ` (${type})` : ''}`);
  }
  return boundedText(message);
}
