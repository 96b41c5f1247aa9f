// Property-based fuzzing of the push-webhook parsers: signatures are never accepted for the wrong
// secret or a changed body, and no header or payload makes a parser throw. Bounded runs.

import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { normalizeRepoUrl, parsePush, pushMatches, PROVIDERS, verifySignature, type Provider } from '../../src/supervisor/webhooks.js';

type Headers = Record<string, string | string[] | undefined>;

const hmac = (secret: string, body: Uint8Array) => createHmac('sha256', secret).update(body).digest('hex');

/** The headers a provider would send for `body` signed with `secret`. */
function signed(provider: Provider, secret: string, body: Uint8Array): Headers {
  switch (provider) {
    case 'github':
      return { 'x-hub-signature-256': `sha256=${hmac(secret, body)}`, 'x-github-event': 'push' };
    case 'gitea':
      return { 'x-gitea-signature': hmac(secret, body), 'x-gitea-event': 'push' };
    case 'gitlab':
      return { 'x-gitlab-token': secret, 'x-gitlab-event': 'Push Hook' };
  }
}

// Secrets come from a file read as UTF-8, so they never hold lone surrogates: 'binary' units
// (whole code points) keep two different secrets different once encoded.
const secret = fc.string({ unit: 'binary', minLength: 1, maxLength: 64 });
const provider = fc.constantFrom(...PROVIDERS);
const body = fc.uint8Array({ maxLength: 512 });

const SIGNATURE_HEADERS = ['x-hub-signature-256', 'x-gitea-signature', 'x-gogs-signature', 'x-gitlab-token', 'x-github-event', 'x-gitea-event', 'x-gogs-event', 'x-gitlab-event'];
const headerName = fc.oneof(fc.constantFrom(...SIGNATURE_HEADERS), fc.string({ maxLength: 20 }));
/** What Node's http parser can hand us: strings (latin1), arrays of strings (set-cookie), nothing. */
const headerValue = fc.oneof(
  fc.string({ unit: 'binary-ascii', maxLength: 100 }),
  fc.string({ unit: 'binary', maxLength: 100 }),
  fc.constantFrom('sha256=', 'sha256=zz', 'sha1=abc', 'SHA256=00', 'sha256=' + '0'.repeat(64), '0'.repeat(64), 'push', 'Push Hook', ''),
  fc.array(fc.string({ maxLength: 80 }), { maxLength: 3 }),
  fc.constant(undefined),
);
const typedHeaders = fc.dictionary(headerName, headerValue, { maxKeys: 8 });

test('a signature made with another secret is never accepted', (t) => {
  let n = 0;
  fc.assert(
    fc.property(provider, secret, secret, body, (p, right, wrong, b) => {
      fc.pre(right !== wrong);
      n++;
      assert.equal(verifySignature(p, right, signed(p, wrong, b), Buffer.from(b)), false);
      // And the same headers repeated as an array (first value wins) change nothing.
      const h = signed(p, wrong, b);
      const arrayed: Headers = Object.fromEntries(Object.entries(h).map(([k, v]) => [k, [v as string, v as string]]));
      assert.equal(verifySignature(p, right, arrayed, Buffer.from(b)), false);
    }),
    { numRuns: 2000 },
  );
  t.diagnostic(`${n} (provider, secret, wrong secret, body) tuples`);
});

test('the right secret is accepted (so the refusals above mean something)', () => {
  fc.assert(
    fc.property(provider, secret, body, (p, s, b) => {
      assert.equal(verifySignature(p, s, signed(p, s, b), Buffer.from(b)), true);
    }),
    { numRuns: 500 },
  );
});

test('a body changed after signing is never accepted (GitHub, Gitea)', (t) => {
  let n = 0;
  const tamper = fc.oneof(
    // Flip one byte.
    fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })).map(([at, x]) => (b: Uint8Array) => {
      if (b.length === 0) return Uint8Array.of(x);
      const c = Uint8Array.from(b);
      c[at % c.length] = c[at % c.length]! ^ x;
      return c;
    }),
    // Append, prepend or truncate.
    fc.uint8Array({ minLength: 1, maxLength: 8 }).map((extra) => (b: Uint8Array) => Uint8Array.from([...b, ...extra])),
    fc.uint8Array({ minLength: 1, maxLength: 8 }).map((extra) => (b: Uint8Array) => Uint8Array.from([...extra, ...b])),
    fc.constant((b: Uint8Array) => (b.length > 0 ? b.subarray(0, b.length - 1) : Uint8Array.of(0))),
  );
  fc.assert(
    fc.property(fc.constantFrom<Provider>('github', 'gitea'), secret, body, tamper, (p, s, b, change) => {
      const changed = change(b);
      fc.pre(Buffer.compare(Buffer.from(changed), Buffer.from(b)) !== 0);
      n++;
      assert.equal(verifySignature(p, s, signed(p, s, b), Buffer.from(changed)), false);
    }),
    { numRuns: 2000 },
  );
  t.diagnostic(`${n} tampered bodies`);
});

test('verifySignature never throws on any header value Node can produce, and only says yes to the secret', (t) => {
  let n = 0;
  fc.assert(
    fc.property(provider, secret, typedHeaders, body, (p, s, h, b) => {
      n++;
      const ok = verifySignature(p, s, h, Buffer.from(b));
      assert.equal(typeof ok, 'boolean');
      // Random headers are right only by containing the secret itself (GitLab's token).
      if (ok) assert.equal(p, 'gitlab');
    }),
    { numRuns: 2000 },
  );
  t.diagnostic(`${n} header sets`);
});

test(
  'verifySignature never throws on header values of any type (as a caller outside node:http might pass)',
  () => {
    fc.assert(
      fc.property(provider, secret, fc.dictionary(fc.constantFrom(...SIGNATURE_HEADERS), fc.anything(), { maxKeys: 4 }), (p, s, h) => {
        assert.equal(typeof verifySignature(p, s, h as Headers, Buffer.alloc(0)), 'boolean');
      }),
      { numRuns: 500 },
    );
  },
);

test('parsePush never throws on any payload or headers, and what it returns is well-formed', (t) => {
  let n = 0;
  let pushes = 0;
  // Headers that announce a push to each provider, so that many payloads get read past the event check.
  const pushHeaders: Record<Provider, Headers[]> = {
    github: [{ 'x-github-event': 'push' }, { 'x-github-event': ['push', 'ping'] }],
    gitea: [{ 'x-gitea-event': 'push' }, { 'x-gogs-event': 'push' }],
    gitlab: [{ 'x-gitlab-event': 'Push Hook' }, { 'x-gitlab-event': 'Tag Push Hook' }],
  };
  const anything = fc.anything({ withNullPrototype: true, withBoxedValues: true, withMap: true, withSet: true, withBigInt: true, withTypedArray: true, withSparseArray: true });
  const urlValue = fc.oneof(fc.constantFrom('https://git.example/org/site.git', 'git@git.example:org/site.git', ''), anything);
  const payloadish = fc.oneof(
    { weight: 1, arbitrary: anything },
    { weight: 1, arbitrary: fc.jsonValue() },
    {
      weight: 3,
      arbitrary: fc.record(
        {
          ref: fc.oneof(fc.constantFrom('refs/heads/main', 'refs/tags/v1', ''), anything),
          repository: fc.oneof(fc.dictionary(fc.constantFrom('clone_url', 'ssh_url', 'git_url', 'html_url', 'url', 'git_http_url', 'git_ssh_url', 'homepage'), urlValue), anything),
          project: fc.oneof(fc.dictionary(fc.constantFrom('git_http_url', 'git_ssh_url', 'web_url', 'http_url', 'ssh_url'), urlValue), anything),
        },
        { requiredKeys: [] },
      ),
    },
  );
  const withHeaders = provider.chain((p) => fc.tuple(fc.constant(p), fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...pushHeaders[p]) }, { weight: 1, arbitrary: typedHeaders })));
  fc.assert(
    fc.property(withHeaders, payloadish, ([p, h], payload) => {
      n++;
      const event = parsePush(p, h, payload);
      if (event.kind === 'push') {
        pushes++;
        assert.ok(typeof event.ref === 'string' && event.ref.length > 0);
        assert.ok(event.urls.every((u) => typeof u === 'string' && u.length > 0));
      } else {
        assert.equal(event.kind, 'other');
        assert.equal(typeof event.event, 'string');
      }
    }),
    { numRuns: 2000 },
  );
  t.diagnostic(`${n} payloads; ${pushes} read as pushes`);
});

test('parsePush never throws even when header values are not strings', (t) => {
  let n = 0;
  fc.assert(
    fc.property(provider, fc.dictionary(fc.oneof(fc.constantFrom(...SIGNATURE_HEADERS), fc.string()), fc.anything()), fc.anything(), (p, h, payload) => {
      n++;
      parsePush(p, h as Headers, payload);
    }),
    { numRuns: 1000 },
  );
  t.diagnostic(`${n} header sets of any type`);
});

// ---- repository URLs ----------------------------------------------------------------------------

const urlish = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc.string({ unit: 'binary-ascii', maxLength: 60 }),
  fc.webUrl(),
  fc.tuple(fc.constantFrom('git@', '', 'u:p@', 'a@b@'), fc.domain(), fc.constantFrom(':', '/', ':22/'), fc.string({ maxLength: 20 })).map((p) => p.join('')),
  fc.constantFrom('', ' ', '/', '.git', '.git.git', 'h/x.git.git', ' x ', 'x@y@z:p', 'https://h:80:90/x', '::', 'a:b:c'),
);

test('normalizeRepoUrl never throws', (t) => {
  let n = 0;
  fc.assert(
    fc.property(urlish, (u) => {
      n++;
      assert.equal(typeof normalizeRepoUrl(u), 'string');
    }),
    { numRuns: 3000 },
  );
  t.diagnostic(`${n} strings`);
});

test(
  'normalizeRepoUrl is idempotent',
  () => {
    fc.assert(
      fc.property(urlish, (u) => {
        const once = normalizeRepoUrl(u);
        assert.equal(normalizeRepoUrl(once), once, `not idempotent for ${JSON.stringify(u)}`);
      }),
      { numRuns: 3000 },
    );
  },
);

test('every spelling of one repository normalises to the same string', (t) => {
  let n = 0;
  const seg = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_-]{0,10}$/);
  fc.assert(
    fc.property(fc.domain(), seg, seg, (host, org, repo) => {
      n++;
      const spellings = [
        `https://${host}/${org}/${repo}.git`,
        `https://${host.toUpperCase()}/${org}/${repo}`,
        `http://user@${host}:8080/${org}/${repo}.git/`,
        `ssh://git@${host}:22/${org}/${repo}.git`,
        `git@${host}:${org}/${repo}.git`,
        `git://${host}/${org}/${repo}`,
        ` https://${host}/${org}/${repo}/ `,
      ];
      const forms = new Set(spellings.map(normalizeRepoUrl));
      assert.equal(forms.size, 1, `${[...forms].join(' | ')}`);
    }),
    { numRuns: 1000 },
  );
  t.diagnostic(`${n} repositories, 7 spellings each`);
});

test('a push never matches an entry pinned to a full commit sha', (t) => {
  let n = 0;
  const hex = (len: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: len, maxLength: len });
  fc.assert(
    fc.property(
      fc.oneof(hex(40), hex(64)),
      fc.constantFrom('https://git.example/org/site.git', 'git@git.example:org/site.git', 'git://127.0.0.1:9418/site.git'),
      fc.oneof(fc.constantFrom('refs/heads/main', 'refs/tags/v1', 'HEAD'), fc.string(), hex(40).map((s) => `refs/heads/${s}`)),
      fc.array(urlish, { maxLength: 3 }),
      (sha, repo, pushedRef, otherUrls) => {
        n++;
        // The push names the entry's own repository (every spelling), and even the sha itself as ref.
        const urls = [repo, repo.toUpperCase(), ...otherUrls];
        assert.equal(pushMatches({ repo, ref: sha }, { ref: pushedRef, urls }), false);
        assert.equal(pushMatches({ repo, ref: sha }, { ref: sha, urls }), false);
        assert.equal(pushMatches({ repo, ref: sha }, { ref: `refs/heads/${sha}`, urls }), false);
      },
    ),
    { numRuns: 2000 },
  );
  t.diagnostic(`${n} pinned entries, 3 pushes each`);
});
