/** A message head as text: the start line, then `name: value` lines from raw headers ([name, value, …]), then the empty line. */
export function headText(startLine: string, headers: readonly string[], extra = ''): string {
  let text = `${startLine}\r\n`;
  for (let i = 0; i < headers.length; i += 2) text += `${headers[i]!}: ${headers[i + 1]!}\r\n`;
  return text + extra + '\r\n';
}
