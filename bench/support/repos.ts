// Remote repositories for the bench, made with real git: a large one (thousands of text files in
// one commit, as an imported project looks) and small ones for polling and latency.

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RemoteRepo } from '../../test/support/git-repo.js';
import { seededRandom } from './stats.js';

const WORDS = ['const', 'return', 'function', 'value', 'config', 'server', 'index', 'export', 'import', 'string', 'number', 'await', 'result', 'error', 'request', 'handler', 'module', 'default', 'options', 'update', '{', '}', '(', ')', '=', ';', '=>', '//', 'if', 'else'];

/** Text of `size` bytes that compresses like source code does, not like random bytes. */
function sourceLikeText(size: number, random: () => number): string {
  const lines: string[] = [];
  let length = 0;
  while (length < size) {
    const words = Array.from({ length: 3 + Math.floor(random() * 9) }, () => WORDS[Math.floor(random() * WORDS.length)]!);
    const line = `${'  '.repeat(Math.floor(random() * 4))}${words.join(' ')} ${Math.floor(random() * 1e6)}\n`;
    lines.push(line);
    length += line.length;
  }
  return lines.join('').slice(0, size);
}

export interface LargeRepo {
  repo: RemoteRepo;
  sha: string;
  files: number;
  bytes: number;
}

/** `files` files of 1-2 KB spread over `dirs` folders, added with one `git add` and one commit. */
export async function createLargeRepo(serveRoot: string, name: string, files: number, dirs: number, seed = 42): Promise<LargeRepo> {
  const repo = await RemoteRepo.create(serveRoot, name);
  const random = seededRandom(seed);
  let bytes = 0;
  for (let d = 0; d < dirs; d++) await mkdir(join(repo.workDir, `dir-${String(d).padStart(3, '0')}`), { recursive: true });
  for (let i = 0; i < files; i++) {
    const text = sourceLikeText(1024 + Math.floor(random() * 1024), random);
    bytes += text.length;
    await writeFile(join(repo.workDir, `dir-${String(i % dirs).padStart(3, '0')}`, `file-${String(i).padStart(5, '0')}.txt`), text);
  }
  // commit({}) writes nothing itself: it adds everything written above in one `git add --all`.
  const sha = await repo.commit({}, `import ${files} files`);
  return { repo, sha, files, bytes };
}

export async function createSmallRepo(serveRoot: string, name: string): Promise<{ repo: RemoteRepo; sha: string }> {
  const repo = await RemoteRepo.create(serveRoot, name);
  const sha = await repo.commit({ 'README.md': `# ${name}\n`, 'conf/app.yaml': 'replicas: 2\n', 'src/main.txt': 'hello\n' }, 'initial');
  return { repo, sha };
}
