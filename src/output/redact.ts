/**
 * Scrubs secrets from anything written to stderr (logs, errors, warnings).
 * Known secret values are registered as soon as they are read; patterns catch the rest.
 */
const MASK = '[REDACTED]';

const PATTERNS: Array<[RegExp, string]> = [
  [/(authorization\s*[:=]\s*"?)(bearer\s+)?[^\s",}]+/gi, `$1$2${MASK}`],
  [/(bearer\s+)[A-Za-z0-9._~+/=-]{8,}/gi, `$1${MASK}`],
  [/("(?:api_key|apiKey|token|access_token|secret)"\s*:\s*")[^"]*(")/g, `$1${MASK}$2`],
  // A URL's password (postgres://user:PASSWORD@host, any scheme) and libpq-style password=...
  [/(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@?#]*:)[^\s/?#]*@/gi, `$1${MASK}@`],
  [/([?&\s]password=)[^&\s#"']+/gi, `$1${MASK}`],
];

/**
 * A secret in a URL query (`?key=…`): the value ends at the next parameter, a space, a quote or a
 * bracket (brackets are never bare in a query, and a value already masked starts with one).
 */
const QUERY_SECRET = /([?&](?:key|api_key|token|access_token)=)([^&\s#"'<>[\]]+)/gi;
/** Punctuation that ends a sentence or a bracket after a URL is prose, not part of the secret. */
const TRAILING_PROSE = /[.,:;!?)\]}]+$/;

function maskQuerySecret(_match: string, prefix: string, value: string): string {
  const trailing = TRAILING_PROSE.exec(value)?.[0] ?? '';
  const secret = value.slice(0, value.length - trailing.length);
  return secret === '' ? `${prefix}${value}` : `${prefix}${MASK}${trailing}`;
}

export class Redactor {
  private readonly secrets = new Set<string>();

  /** Values shorter than 4 characters would mask ordinary text, so they are ignored. */
  addSecret(value: string | undefined | null): void {
    if (value && value.length >= 4) this.secrets.add(value);
  }

  redact(text: string): string {
    let result = text;
    for (const secret of this.secrets) {
      if (result.includes(secret)) result = result.split(secret).join(MASK);
    }
    for (const [pattern, replacement] of PATTERNS) {
      result = result.replace(pattern, replacement);
    }
    return result.replace(QUERY_SECRET, maskQuerySecret);
  }
}

/** The process-wide redactor: every stderr write goes through it. */
export const redactor = new Redactor();

export function redactUrl(url: string): string {
  return redactor.redact(url);
}
