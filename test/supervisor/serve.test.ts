// The pure parts of serving and following (#17): pkt-lines and the wants in them, the upload-pack
// queue, the hub's event-stream parser and which entries a hub's events are for.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventParser, followedName, hubGitPrefix } from '../../src/supervisor/follow.js';
import { FLUSH, isV2Command, lsRefsAnswer, packet, PktLineError, readPackets, wantedObjects } from '../../src/supervisor/pkt-line.js';
import { followedBranch, servedNamespace } from '../../src/supervisor/served-refs.js';
import { QueueFull, ServeQueue } from '../../src/supervisor/serve-queue.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);

test('the wants of a v0 and of a v2 request are read; special packets and want-ref are told apart', () => {
  const v0 = Buffer.concat([packet(`want ${A} multi_ack_detailed side-band-64k ofs-delta\n`), packet(`want ${B}\n`), packet('deepen 1\n'), FLUSH, packet('done\n')]);
  assert.deepEqual(wantedObjects(readPackets(v0)), { oids: [A, B], wantRefs: [] });
  const v2 = Buffer.concat([packet('command=fetch\n'), packet('agent=git/2.39\n'), Buffer.from('0001'), packet('thin-pack\n'), packet(`want ${A.toUpperCase()}\n`), packet('want-ref refs/heads/main\n'), packet('done\n'), FLUSH]);
  const read = readPackets(v2);
  assert.equal(read.filter((p) => p === null).length, 2, 'delim and flush');
  assert.deepEqual(wantedObjects(read), { oids: [A], wantRefs: ['refs/heads/main'] });
});

test('a malformed or truncated request is an error, never a guess', () => {
  for (const bad of ['00', 'zzzz', '0003', '0010want', `0032want ${A}`]) assert.throws(() => readPackets(Buffer.from(bad)), PktLineError, bad);
  assert.deepEqual(readPackets(Buffer.alloc(0)), []);
});

test('the upload-pack queue runs at most `running` jobs, queues `waiting` more, refuses beyond, and hands slots on in order', async () => {
  const sizes: string[] = [];
  const q = new ServeQueue(2, 1, ({ active, queued }) => sizes.push(`${active}/${queued}`));
  const releases: (() => void)[] = [];
  const order: number[] = [];
  const job = (i: number) => q.run(() => new Promise<void>((resolve) => releases.push(() => (order.push(i), resolve()))));
  const running = [job(1), job(2), job(3)];
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(q.size, { active: 2, queued: 1 });
  await assert.rejects(job(4), QueueFull);
  releases.shift()!();
  await running[0];
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(q.size, { active: 2, queued: 0 }, 'the waiting job took the slot');
  while (releases.length > 0) releases.shift()!();
  await Promise.all(running);
  assert.deepEqual(q.size, { active: 0, queued: 0 });
  assert.deepEqual(order, [1, 2, 3]);
  assert.equal(sizes.at(-1), '0/0', 'the gauge ends at zero');
  assert.ok(sizes.includes('2/1'), `the gauge saw the queue full: ${sizes.join(' ')}`);
});

test('the event parser reads events split anywhere, skips comments, and refuses an endless line', () => {
  const seen: [string, string][] = [];
  const p = new EventParser((e, d) => seen.push([e, d]));
  const text = 'retry: 2000\n: connected\n\nevent: published\ndata: {"name":"app"}\n\n: heartbeat\n\r\nevent: published\r\ndata: {"name":"b"}\r\n\r\n';
  for (const ch of text) p.push(ch);
  assert.deepEqual(seen, [['published', '{"name":"app"}'], ['published', '{"name":"b"}']]);
  assert.throws(() => p.push('data: '.padEnd(70_000, 'x')), /longer than/);
});

test("a hub's events are for the entries whose repo is that hub's /git/{name}, and no other", () => {
  const prefix = hubGitPrefix(new URL('http://hub:8080/events'));
  assert.equal(prefix, 'http://hub:8080/git/');
  assert.equal(hubGitPrefix(new URL('https://x.example/autosync/events')), 'https://x.example/autosync/git/');
  assert.equal(followedName('http://hub:8080/git/app', prefix), 'app');
  assert.equal(followedName('http://hub:8080/git/app/', prefix), 'app');
  assert.equal(followedName('http://hub:8080/git/a/b', prefix), null);
  assert.equal(followedName('http://hub:8081/git/app', prefix), null, 'another port is another origin');
  assert.equal(followedName('https://hub:8080/git/app', prefix), null);
  assert.equal(followedName('git://hub/git/app', prefix), null);
  assert.equal(followedName('/srv/git/app', prefix), null);
});

test('served namespaces are valid ref components for any entry name; the followed branch is advertised as itself', () => {
  assert.match(servedNamespace('.hidden..name'), /^git-autosync-serve-[0-9a-f]+$/);
  assert.notEqual(servedNamespace('a'), servedNamespace('b'));
  assert.equal(followedBranch('main'), 'main');
  assert.equal(followedBranch('refs/heads/release/1'), 'release/1');
  for (const none of [null, 'refs/tags/v1', 'semver:>=1', A]) assert.equal(followedBranch(none), null, String(none));
});

test('ls-refs is answered as upload-pack would: ref-prefix filters, symrefs adds the target, a flush ends it', () => {
  const ask = (...args: string[]) => readPackets(Buffer.concat([packet('command=ls-refs\n'), packet('agent=git/2.39\n'), Buffer.from('0001'), ...args.map((a) => packet(`${a}\n`)), FLUSH]));
  const text = (b: Buffer) => readPackets(b);
  const branches = ['refs/heads/published', 'refs/heads/main'];
  assert.ok(isV2Command(ask(), 'ls-refs') && !isV2Command(ask(), 'fetch'));
  assert.deepEqual(text(lsRefsAnswer(ask('peel', 'symrefs'), A, branches)), [`${A} HEAD symref-target:refs/heads/published\n`, `${A} refs/heads/published\n`, `${A} refs/heads/main\n`, null]);
  assert.deepEqual(text(lsRefsAnswer(ask('peel', 'ref-prefix refs/heads/main'), A, branches)), [`${A} refs/heads/main\n`, null]);
  assert.deepEqual(text(lsRefsAnswer(ask('ref-prefix refs/tags/'), A, branches)), [null], 'no tag is served');
  assert.deepEqual(text(lsRefsAnswer(ask('ref-prefix HEAD'), A, branches)), [`${A} HEAD\n`, null]);
});
