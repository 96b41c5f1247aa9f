// Reading the Dockerfile and .dockerignore the way the builder does, enough for tests to check the
// image's rules and to rebuild its runtime tree without a Docker engine: stages, instructions with
// continuation lines joined, COPY's flags and sources, ENV pairs, and .dockerignore matching.

export interface Instruction {
  /** Upper-cased: FROM, RUN, COPY, … */
  keyword: string;
  /** Everything after the keyword, continuation lines joined with a space. */
  args: string;
  /** 1-based line the instruction starts on. */
  line: number;
}

export interface Stage {
  image: string;
  name: string | undefined;
  instructions: Instruction[];
}

export function parseInstructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let current: { parts: string[]; line: number } | null = null;
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    // Comment lines are dropped, even in the middle of a continued instruction (as BuildKit does).
    if (/^\s*#/.test(line)) return;
    if (current === null && line.trim() === '') return;
    const continued = /\\\s*$/.test(line);
    const part = continued ? line.replace(/\\\s*$/, '') : line;
    if (current === null) current = { parts: [part], line: i + 1 };
    else current.parts.push(part);
    if (!continued) {
      const joined = current.parts.map((p) => p.trim()).filter((p) => p !== '').join(' ');
      const m = /^(\S+)\s*(.*)$/.exec(joined);
      if (m) out.push({ keyword: m[1]!.toUpperCase(), args: m[2]!, line: current.line });
      current = null;
    }
  });
  return out;
}

export function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  for (const ins of parseInstructions(text)) {
    if (ins.keyword === 'FROM') {
      const words = ins.args.split(/\s+/).filter((w) => !w.startsWith('--'));
      const as = words.findIndex((w) => w.toUpperCase() === 'AS');
      stages.push({ image: words[0] ?? '', name: as === -1 ? undefined : words[as + 1], instructions: [] });
    } else if (stages.length === 0) {
      if (ins.keyword !== 'ARG') throw new Error(`Dockerfile line ${ins.line}: ${ins.keyword} before the first FROM`);
    } else {
      stages.at(-1)!.instructions.push(ins);
    }
  }
  return stages;
}

/** The JSON ("exec") form of CMD/ENTRYPOINT/RUN, or null for the shell form. */
export function execForm(ins: Instruction): string[] | null {
  if (!ins.args.trimStart().startsWith('[')) return null;
  const parsed = JSON.parse(ins.args) as unknown;
  if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string')) throw new Error(`line ${ins.line}: exec form must be an array of strings`);
  return parsed;
}

export interface Copy {
  flags: Record<string, string>;
  sources: string[];
  dest: string;
}

export function parseCopy(ins: Instruction): Copy {
  const words = execForm(ins) ?? ins.args.split(/\s+/).filter((w) => w !== '');
  const flags: Record<string, string> = {};
  while (words[0]?.startsWith('--')) {
    const [k, v] = words.shift()!.slice(2).split('=', 2);
    flags[k!] = v ?? 'true';
  }
  if (words.length < 2) throw new Error(`line ${ins.line}: ${ins.keyword} needs a source and a destination`);
  return { flags, sources: words.slice(0, -1), dest: words.at(-1)! };
}

/** ENV pairs in either form (`ENV A=1 B=2` or the legacy `ENV A 1`); quotes are removed. */
export function parseEnv(ins: Instruction): Record<string, string> {
  const unquote = (v: string) => v.replace(/^"(.*)"$/, '$1').replace(/^'(.*)'$/, '$1');
  if (!ins.args.includes('=')) {
    const [k, ...rest] = ins.args.split(/\s+/);
    return { [k!]: rest.join(' ') };
  }
  const out: Record<string, string> = {};
  for (const m of ins.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|'[^']*'|\S*)/g)) out[m[1]!] = unquote(m[2]!);
  return out;
}

/** The shell commands of a RUN (shell form), split at `&&` and `;`. */
export function runCommands(ins: Instruction): string[][] {
  const exec = execForm(ins);
  if (exec !== null) return [exec];
  return ins.args
    .split(/&&|;/)
    .map((c) => c.trim().split(/\s+/).filter((w) => w !== ''))
    .filter((c) => c.length > 0);
}

/** Docker's path matching for .dockerignore: `*` and `?` stay within one segment, `**` spans any. */
function patternRegex(pattern: string): RegExp {
  const p = pattern.replace(/^\/+/, '').replace(/\/+$/, '');
  let re = '';
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === '*' && p[i + 1] === '*') {
      const slash = p[i + 2] === '/';
      re += slash ? '(?:.*/)?' : '.*';
      i += slash ? 2 : 1;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/**
 * Whether the build context leaves `path` (relative, with "/") out. As Docker does, a rule that
 * matches a parent folder matches everything in it, and the last matching rule wins.
 */
export function dockerignoreExcludes(dockerignore: string, path: string): boolean {
  const rules = dockerignore
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => ({ negate: l.startsWith('!'), re: patternRegex(l.replace(/^!/, '')) }));
  const segments = path.split('/');
  const prefixes = segments.map((_, i) => segments.slice(0, i + 1).join('/'));
  let excluded = false;
  for (const rule of rules) {
    if (prefixes.some((p) => rule.re.test(p))) excluded = !rule.negate;
  }
  return excluded;
}
