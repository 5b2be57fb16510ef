// Removes the documentation-only options of jaeger-idl's .proto files, which need imports neither buf's
// well-known types nor protobufjs carry: gnostic's OpenAPI annotations ((openapi.v3.*), imported from
// gnostic/openapiv3/annotations.proto) and google.api.field_behavior. They change no message, field number or
// wire format. Everything else is left byte for byte.
//   node test/env/strip-proto-options.mjs FILE...   (rewrites each FILE in place)
import { readFileSync, writeFileSync } from 'node:fs';
import process from 'node:process';

const IMPORTS = /^import "(gnostic\/openapiv3\/annotations|google\/api\/field_behavior)\.proto";\n/gm;
const OPTION = /\((openapi\.v3\.[a-z_]+|google\.api\.field_behavior)\)\s*=\s*/g;

/** index just past the value starting at `i`: a {...} block (strings skipped) or a bare identifier */
function valueEnd(s, i) {
  if (s[i] !== '{') {
    const m = /^[A-Za-z_][\w.]*/.exec(s.slice(i));
    if (!m) throw new Error(`unexpected option value at ${s.slice(i, i + 40)}`);
    return i + m[0].length;
  }
  let depth = 0;
  for (let j = i; j < s.length; j++) {
    const c = s[j];
    if (c === '"' || c === "'") {
      for (j++; s[j] !== c; j++) if (s[j] === '\\') j++;
    } else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return j + 1;
  }
  throw new Error('unbalanced braces');
}

export function strip(text) {
  let s = text.replace(IMPORTS, '');
  for (;;) {
    OPTION.lastIndex = 0;
    const m = OPTION.exec(s);
    if (!m) return s;
    const end = valueEnd(s, m.index + m[0].length);
    const before = s.slice(0, m.index);
    const stmt = /option\s*$/.exec(before);
    if (stmt) {
      // a statement: `option (x) = {...};` and its line
      const semi = s.indexOf(';', end);
      const lineStart = before.lastIndexOf('\n', stmt.index) + 1;
      const lineEnd = s[semi + 1] === '\n' ? semi + 2 : semi + 1;
      s = s.slice(0, lineStart) + s.slice(lineEnd);
      continue;
    }
    // a field option list ` [ (x) = {...} ]` holding only this option
    const open = before.lastIndexOf('[');
    const close = s.indexOf(']', end);
    if (open < 0 || close < 0 || before.slice(open + 1).trim() !== '' || s.slice(end, close).trim() !== '') throw new Error(`option ${m[1]} shares its list with another option: strip it by hand`);
    const from = before.slice(0, open).replace(/\s+$/, '').length;
    s = s.slice(0, from) + s.slice(close + 1);
  }
}

for (const f of process.argv.slice(2)) writeFileSync(f, strip(readFileSync(f, 'utf8')));
