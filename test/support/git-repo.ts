// A "remote" repository for tests: a bare repo that the git servers serve, and a private
// working clone that plays the upstream developer (commits, branches, tags, force-pushes).
import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';

/**
 * Environment for every git the fixtures run: a fixed identity, and no system or
 * global config, so a developer's ~/.gitconfig (signing, hooks, credential helpers,
 * default branch) cannot change what the tests see.
 */
export const fixtureGitEnv: Readonly<Record<string, string>> = {
  GIT_AUTHOR_NAME: 'Test Author',
  GIT_AUTHOR_EMAIL: 'author@example.test',
  GIT_COMMITTER_NAME: 'Test Committer',
  GIT_COMMITTER_EMAIL: 'committer@example.test',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_TERMINAL_PROMPT: '0',
};

/** Variables that would point git at some other repository than `cwd`. */
const inheritedRepoVars = ['GIT_DIR', 'GIT_WORK_TREE', 'GIT_INDEX_FILE', 'GIT_OBJECT_DIRECTORY', 'GIT_COMMON_DIR'];

export class GitCommandError extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly cwd: string,
    readonly exitCode: number | null,
    readonly stderr: string,
    options?: ErrorOptions,
  ) {
    super(`git ${argv.join(' ')} (in ${cwd}) failed with exit code ${exitCode}: ${stderr.trim()}`, options);
    this.name = 'GitCommandError';
  }
}

const gitTimeoutMs = 60_000;

/** Runs git with an argument array (never a shell) and returns its trimmed stdout. */
export function git(cwd: string, args: string[], env?: NodeJS.ProcessEnv): Promise<string> {
  const baseEnv = { ...process.env };
  for (const name of inheritedRepoVars) delete baseEnv[name];
  return new Promise((resolvePromise, reject) => {
    execFile(
      'git',
      ['-c', 'init.defaultBranch=main', ...args],
      {
        cwd,
        env: { ...baseEnv, ...fixtureGitEnv, ...env },
        maxBuffer: 64 * 1024 * 1024,
        // A fixture git that hangs (e.g. on a dead server) should fail the test, not stall it.
        timeout: gitTimeoutMs,
        killSignal: 'SIGKILL',
      },
      (error, stdout, stderr) => {
        if (error) {
          const exitCode = typeof error.code === 'number' ? error.code : null;
          const why = error.killed ? `killed after ${gitTimeoutMs} ms\n${stderr}` : stderr || error.message;
          reject(new GitCommandError(args, cwd, exitCode, why, { cause: error }));
        } else {
          resolvePromise(stdout.trim());
        }
      },
    );
  });
}

/** File contents to write (string) or delete (null), keyed by path relative to the work tree. */
export type FileChanges = Record<string, string | null>;

export class RemoteRepo {
  /** The branch that commit() advances and pushes. */
  currentBranch: string;
  /**
   * How the developer signs from now on (test/support/signing.ts): git settings and environment
   * for every command in the working clone; null: commits and tags are unsigned.
   */
  signing: { config: string[]; env: Record<string, string> } | null = null;

  private constructor(
    readonly name: string,
    readonly bareDir: string,
    readonly workDir: string,
    branch: string,
  ) {
    this.currentBranch = branch;
  }

  /**
   * Creates an empty bare repo at `${serveRoot}/${name}.git`, with HEAD on `branch`
   * (default main), and its working clone at `${serveRoot}/.work/${name}`. The clone
   * lives inside serveRoot so that removing serveRoot cleans up both.
   */
  static async create(serveRoot: string, name: string, opts: { branch?: string } = {}): Promise<RemoteRepo> {
    const branch = opts.branch ?? 'main';
    const bareDir = join(serveRoot, `${name}.git`);
    const workDir = join(serveRoot, '.work', name);
    await mkdir(dirname(bareDir), { recursive: true });
    await mkdir(workDir, { recursive: true });

    await git(serveRoot, ['init', '--quiet', '--bare', `--initial-branch=${branch}`, '--', bareDir]);
    // Let clients fetch a commit by sha (pinned revisions) and ask for partial clones.
    await git(bareDir, ['config', 'uploadpack.allowAnySHA1InWant', 'true']);
    await git(bareDir, ['config', 'uploadpack.allowFilter', 'true']);

    await git(workDir, ['init', '--quiet', `--initial-branch=${branch}`]);
    await git(workDir, ['remote', 'add', 'origin', bareDir]);
    return new RemoteRepo(name, bareDir, workDir, branch);
  }

  /** Writes/deletes files, commits everything (even if nothing changed) and pushes currentBranch. */
  async commit(files: FileChanges, message = 'update'): Promise<string> {
    const sha = await this.commitLocally(files, message);
    await this.push();
    return sha;
  }

  /** `count` commits pushed together; `make(i)` gives the files of commit i (0-based). */
  async commitMany(count: number, make: (i: number) => FileChanges): Promise<string[]> {
    const shas: string[] = [];
    for (let i = 0; i < count; i++) shas.push(await this.commitLocally(make(i), `commit ${i + 1} of ${count}`));
    if (count > 0) await this.push();
    return shas;
  }

  /**
   * Checks out another branch in the working clone; with create, starts it at HEAD or
   * `from`. Local only: the branch reaches the remote with the next commit().
   */
  async switchBranch(name: string, opts: { create?: boolean; from?: string } = {}): Promise<void> {
    if (opts.create) {
      await this.run(['checkout', '--quiet', '-b', name, ...(opts.from === undefined ? [] : [opts.from])]);
    } else {
      await this.run(['checkout', '--quiet', name]);
    }
    this.currentBranch = name;
  }

  /** Tags `ref` (default HEAD), pushes the tag and returns the commit it points to. */
  async tag(name: string, opts: { annotated?: boolean; ref?: string; force?: boolean } = {}): Promise<string> {
    const ref = opts.ref ?? 'HEAD';
    await this.run([
      'tag',
      ...(opts.force ? ['--force'] : []),
      ...(opts.annotated ? ['--annotate', '--message', `tag ${name}`] : []),
      name,
      ref,
    ]);
    const refspec = `refs/tags/${name}:refs/tags/${name}`;
    await this.run(['push', '--quiet', 'origin', opts.force ? `+${refspec}` : refspec]);
    return this.run(['rev-parse', '--verify', `refs/tags/${name}^{commit}`]);
  }

  /**
   * Replaces the tip of currentBranch: drops the last commit (or, if it is the only one,
   * starts from an empty tree), commits `files` and force-pushes. The old tip is then
   * unreachable from the remote's refs (unless a tag holds it).
   */
  async rewriteHistory(files: FileChanges, message = 'rewritten history'): Promise<string> {
    const oldTip = await this.run(['rev-parse', '--verify', '--quiet', 'HEAD']);
    const count = Number(await this.run(['rev-list', '--count', 'HEAD']));
    if (count > 1) {
      await this.run(['reset', '--quiet', '--hard', 'HEAD~1']);
    } else {
      // Make the branch unborn again and empty the index and work tree.
      await this.run(['update-ref', '-d', `refs/heads/${this.currentBranch}`]);
      await this.run(['read-tree', '--empty']);
      await this.run(['clean', '--quiet', '--force', '-d', '-x']);
    }
    const sha = await this.commitLocally(files, message);
    if (sha === oldTip) {
      // Same tree, parent, message and second: git made the very same commit.
      throw new Error(`rewriteHistory(${this.name}): the new commit equals the old tip; change the files or message`);
    }
    await this.push({ force: true });
    return sha;
  }

  /**
   * Deletes the branch in the bare repo. Done there directly rather than by push, because
   * receive-pack refuses to delete the branch HEAD points at, which tests need to do.
   */
  async deleteRemoteBranch(name: string): Promise<void> {
    await git(this.bareDir, ['update-ref', '-d', `refs/heads/${name}`]);
  }

  /** The commit `ref` (default: currentBranch) resolves to in the bare repo. */
  remoteHead(ref = `refs/heads/${this.currentBranch}`): Promise<string> {
    return git(this.bareDir, ['rev-parse', '--verify', `${ref}^{commit}`]);
  }

  /** Points the bare repo's HEAD (what a clone without --branch checks out) at `name`. */
  async setDefaultBranch(name: string): Promise<void> {
    await git(this.bareDir, ['symbolic-ref', 'HEAD', `refs/heads/${name}`]);
  }

  private run(args: string[]): Promise<string> {
    return this.signing === null ? git(this.workDir, args) : git(this.workDir, [...this.signing.config, ...args], this.signing.env);
  }

  private async commitLocally(files: FileChanges, message: string): Promise<string> {
    for (const [path, content] of Object.entries(files)) {
      const target = this.pathInWorkDir(path);
      if (content === null) {
        await rm(target, { recursive: true, force: true });
      } else {
        await mkdir(dirname(target), { recursive: true });
        await writeFile(target, content);
      }
    }
    await this.run(['add', '--all']);
    await this.run(['commit', '--quiet', '--allow-empty', '--no-verify', '--message', message]);
    return this.run(['rev-parse', '--verify', 'HEAD']);
  }

  private async push(opts: { force?: boolean } = {}): Promise<void> {
    const refspec = `HEAD:refs/heads/${this.currentBranch}`;
    await this.run(['push', '--quiet', 'origin', opts.force ? `+${refspec}` : refspec]);
  }

  private pathInWorkDir(path: string): string {
    const target = resolve(this.workDir, path);
    const rel = relative(this.workDir, target);
    const first = rel.split(sep)[0];
    if (rel === '' || first === '..' || first === '.git' || isAbsolute(rel)) {
      throw new Error(`RemoteRepo ${this.name}: file path ${JSON.stringify(path)} is outside the work tree`);
    }
    return target;
  }
}
