/**
 * Re-indents JSON text without parsing it into JavaScript values, so every literal is printed
 * exactly as the server sent it: a 20-digit id keeps its digits, `1.0` stays `1.0`, escapes stay.
 * The input must be valid JSON (callers check with JSON.parse first).
 *
 * indent 0 → compact (no whitespace outside strings); indent n → n spaces per level, like
 * JSON.stringify(value, null, n), empty objects and arrays printed as {} and [].
 */
export function reformatJson(text: string, indent: number): string {
  const pad = (depth: number) => (indent > 0 ? `\n${' '.repeat(indent * depth)}` : '');
  let out = '';
  let depth = 0;
  let i = 0;
  const length = text.length;
  while (i < length) {
    const char = text[i]!;
    if (char === '"') {
      // Copy the string verbatim, escapes included.
      let end = i + 1;
      while (end < length && text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      out += text.slice(i, end + 1);
      i = end + 1;
      continue;
    }
    if (char === ' ' || char === '\t' || char === '\n' || char === '\r') {
      i += 1;
      continue;
    }
    if (char === '{' || char === '[') {
      const close = char === '{' ? '}' : ']';
      let next = i + 1;
      while (next < length && /\s/.test(text[next]!)) next += 1;
      if (text[next] === close) {
        out += char + close;
        i = next + 1;
        continue;
      }
      depth += 1;
      out += char + pad(depth);
      i += 1;
      continue;
    }
    if (char === '}' || char === ']') {
      depth -= 1;
      out += pad(depth) + char;
      i += 1;
      continue;
    }
    if (char === ',') {
      out += `,${pad(depth)}`;
      i += 1;
      continue;
    }
    if (char === ':') {
      out += indent > 0 ? ': ' : ':';
      i += 1;
      continue;
    }
    // A number, true, false or null: copy up to the next structural character or space.
    let end = i + 1;
    while (end < length && !/[\s,:\]}]/.test(text[end]!)) end += 1;
    out += text.slice(i, end);
    i = end;
  }
  return out;
}

/** The JSON media types: application/json, application/vnd.api+json, …+json; charset ignored. */
export function isJsonContentType(contentType: string | null | undefined): boolean {
  if (!contentType) return false;
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  return type === 'application/json' || type.endsWith('+json') || type === 'text/json';
}
