// Finds where and why a text is not JSON, without quoting it: V8's JSON.parse messages quote the
// start of the input, and a listing path can be a symlink to a secret file (issue #12 item 6).

export interface JsonFault {
  line: number;
  column: number;
  kind: string;
}

/** The first syntax error of `text` (1-based line and column), or null if it is valid JSON. */
export function findJsonFault(text: string): JsonFault | null {
  let i = 0;
  const fault = (kind: string, at = i): never => {
    throw new FaultAt(at, kind);
  };
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const literal = (word: string) => {
    for (const ch of word) {
      if (i >= text.length) fault('unexpected end of input');
      if (text[i] !== ch) fault('unexpected character');
      i++;
    }
  };
  const string = () => {
    i++; // opening quote
    for (;;) {
      if (i >= text.length) fault('unterminated string');
      const c = text.charCodeAt(i);
      if (c === 0x22) return void i++;
      if (c < 0x20) fault('control character in string');
      if (c === 0x5c) {
        i++;
        if (i >= text.length) fault('unterminated string');
        if (text[i] === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) fault('bad \\u escape in string');
          i += 5;
        } else if ('"\\/bfnrt'.includes(text[i]!)) i++;
        else fault('bad escape in string');
      } else i++;
    }
  };
  const number = () => {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (m === null || m[0] === '-') fault('bad number');
    i += m![0].length;
  };
  const value = (depth: number): void => {
    if (depth > 512) fault('nested too deeply');
    ws();
    if (i >= text.length) fault('unexpected end of input');
    const c = text[i]!;
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') return void i++;
      for (;;) {
        ws();
        if (i >= text.length) fault('unexpected end of input');
        if (text[i] !== '"') fault('expected a property name in double quotes');
        string();
        ws();
        if (i >= text.length) fault('unexpected end of input');
        if (text[i] !== ':') fault('expected ":" after a property name');
        i++;
        value(depth + 1);
        ws();
        if (i >= text.length) fault('unexpected end of input');
        if (text[i] === '}') return void i++;
        if (text[i] !== ',') fault('expected "," or "}" in an object');
        i++;
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') return void i++;
      for (;;) {
        value(depth + 1);
        ws();
        if (i >= text.length) fault('unexpected end of input');
        if (text[i] === ']') return void i++;
        if (text[i] !== ',') fault('expected "," or "]" in an array');
        i++;
      }
    }
    if (c === '"') return string();
    if (c === '-' || (c >= '0' && c <= '9')) return number();
    if (c === 't') return literal('true');
    if (c === 'f') return literal('false');
    if (c === 'n') return literal('null');
    fault('unexpected character');
  };
  try {
    if (text.charCodeAt(0) === 0xfeff) i = 1; // a BOM: JSON.parse refuses it, so report it
    if (i === 1) fault('byte order mark at the start', 0);
    value(0);
    ws();
    if (i < text.length) fault('unexpected text after the end of the JSON value');
    return null;
  } catch (err) {
    if (!(err instanceof FaultAt)) throw err;
    return { ...lineColumn(text, err.at), kind: err.kind };
  }
}

class FaultAt {
  constructor(
    readonly at: number,
    readonly kind: string,
  ) {}
}

function lineColumn(text: string, at: number): { line: number; column: number } {
  let line = 1;
  let start = 0;
  for (let k = text.indexOf('\n'); k !== -1 && k < at; k = text.indexOf('\n', k + 1)) {
    line++;
    start = k + 1;
  }
  return { line, column: at - start + 1 };
}
