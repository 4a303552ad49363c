/** What `{domain}`, `{path}`, `{port}` and `{query}` expand to in a redirect. */
export interface TemplateValues {
  domain: string;
  path: string;
  port: number;
  /** Query string without the '?', empty when there is none. */
  query: string;
}

const placeholder = /\{(domain|path|port|query)\}/g;

/**
 * Expands a redirect template. Values come from the request, so CR, LF and
 * other control characters are percent-encoded: a crafted Host or path can
 * never inject a header into the response.
 */
export function expandTemplate(template: string, values: TemplateValues): string {
  const expanded = template.replace(placeholder, (_match, name: keyof TemplateValues) => String(values[name]));
  // '{path}?{query}' with no query should not leave a dangling '?'.
  const tidy = values.query === '' && expanded.endsWith('?') ? expanded.slice(0, -1) : expanded;
  return encodeControls(tidy);
}

/** Percent-encodes control characters and spaces, so a value from the request can never start a new header line. */
export function encodeControls(text: string): string {
  return text.replace(/[\u0000-\u0020\u007f]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0'));
}
