// The status page at GET /: one HTML document rendered from /status's records by a pure function,
// with no external assets. Everything shown is escaped by construction (see `html`), free text
// (errors from remotes and the listing) is redacted again on the way out, and the page's only
// script and style are allowed by hash in its Content-Security-Policy.

import { createHash } from 'node:crypto';
import { redact } from '../shared/redact.js';
import type { RepoState } from './child-state.js';
import type { RepoStatus, SyncRecord } from './status.js';

/** Text that is already HTML: only `html` makes one, so nothing unescaped gets in by accident. */
class Html {
  constructor(readonly text: string) {}
}

type Value = string | number | null | Html | readonly Html[];

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

/** A template whose every interpolated value is escaped, unless it is itself `html`. */
function html(strings: TemplateStringsArray, ...values: Value[]): Html {
  let out = strings[0] ?? '';
  values.forEach((v, i) => {
    if (v instanceof Html) out += v.text;
    else if (Array.isArray(v)) out += (v as readonly Html[]).map((h) => h.text).join('');
    else out += escapeHtml(v === null ? '' : String(v));
    out += strings[i + 1] ?? '';
  });
  return new Html(out);
}

// Reloads every 10 s, but not while the tab is hidden or the reader is selecting text (copying a
// commit or an error message must not be cut short).
const SCRIPT =
  "setTimeout(function r(){if(document.hidden||String(getSelection())!==''){setTimeout(r,5000)}else{location.reload()}},10000);";

const STYLE = `
:root{color-scheme:light dark;--bg:#fff;--fg:#1b1f24;--dim:#656d76;--line:#d0d7de;--ok:#1a7f37;--busy:#0969da;--bad:#cf222e;--warn:#9a6700;--idle:#6e7781;--invalid:#8250df}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--dim:#8d96a0;--line:#30363d;--ok:#3fb950;--busy:#4493f8;--bad:#f85149;--warn:#d29922;--idle:#8d96a0;--invalid:#a371f7}}
body{margin:0;padding:1rem;background:var(--bg);color:var(--fg);font:14px/1.4 system-ui,sans-serif}
h1{font-size:1.2rem;margin:0 0 .25rem}
.summary{margin:0 0 1rem;color:var(--dim)}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;vertical-align:top;padding:.4rem .5rem;border-bottom:1px solid var(--line)}
th{font-weight:600;color:var(--dim);white-space:nowrap}
code,.sha{font-family:ui-monospace,monospace;font-size:.92em}
.sub{color:var(--dim);font-size:.85em;word-break:break-all}
.badge{display:inline-block;padding:0 .45rem;border-radius:1rem;border:1px solid currentColor;font-weight:600;white-space:nowrap}
.tone-ok .badge{color:var(--ok)}.tone-busy .badge{color:var(--busy)}.tone-bad .badge{color:var(--bad)}.tone-warn .badge{color:var(--warn)}.tone-idle .badge{color:var(--idle)}.tone-invalid .badge{color:var(--invalid)}
tr.tone-bad td:first-child{box-shadow:inset 3px 0 var(--bad)}tr.tone-invalid td:first-child{box-shadow:inset 3px 0 var(--invalid)}
.kind{font-weight:600;color:var(--bad)}.old{opacity:.6}
.error{word-break:break-word;max-width:32rem}
.strip{display:flex;gap:2px;align-items:flex-end}
.strip span{display:inline-block;width:6px;height:14px;border-radius:1px}
.h-synced{background:var(--ok)}.h-unchanged{background:var(--idle);height:8px!important}.h-failed{background:var(--bad)}
.empty{color:var(--dim)}
@media (max-width:720px){
thead{display:none}table,tbody,tr,td{display:block;width:auto}
tr{border:1px solid var(--line);border-radius:6px;margin:0 0 .75rem;padding:.25rem 0}
td{border:0;padding:.2rem .6rem}td[data-label]::before{content:attr(data-label) ": ";color:var(--dim)}
tr.tone-bad td:first-child,tr.tone-invalid td:first-child{box-shadow:none}tr.tone-bad{border-left:4px solid var(--bad)}tr.tone-invalid{border-left:4px solid var(--invalid)}
}`;

const sha256 = (text: string) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

/**
 * Nothing loads from anywhere (default-src 'none'): the one inline script and style run because
 * their hashes are named, so markup injected through a missed escape could not run or style.
 */
export const STATUS_PAGE_CSP = [
  "default-src 'none'",
  `script-src ${sha256(SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** The headers the page goes out with. */
export const STATUS_PAGE_HEADERS: Readonly<Record<string, string>> = {
  'Content-Type': 'text/html; charset=utf-8',
  'Content-Security-Policy': STATUS_PAGE_CSP,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};

/** What each shown state looks like: one tone per state, so every state has a colour. */
type Tone = 'ok' | 'busy' | 'bad' | 'warn' | 'idle' | 'invalid';
const TONES: Record<RepoState, Tone> = {
  synced: 'ok',
  syncing: 'busy',
  starting: 'busy',
  failing: 'bad',
  restarting: 'warn',
  'crash-looping': 'bad',
  'gave-up': 'bad',
  stopping: 'idle',
  stopped: 'idle',
  invalid: 'invalid',
};

export interface StatusPageInput {
  statuses: readonly RepoStatus[];
  /** When the listing in force was loaded; null while none has been. */
  listingLoadedAt: string | null;
  now: number;
}

/** The whole page for these statuses, as of `now`. */
export function renderStatusPage(input: StatusPageInput): string {
  const { statuses, now } = input;
  const rows = statuses.map((s) => row(s, now));
  const body = html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="color-scheme" content="light dark"><meta name="referrer" content="no-referrer">
<title>git-autosync</title><style>${new Html(STYLE)}</style></head>
<body><h1>git-autosync</h1>
<p class="summary" id="summary">${summary(input)}</p>
${
  rows.length === 0
    ? html`<p class="empty">No entries.</p>`
    : html`<table><thead><tr><th>Entry</th><th>State</th><th>Published</th><th>Last success</th><th>Interval</th><th>Next retry</th><th>Last error</th><th>Restarts</th><th>History</th></tr></thead>
<tbody>${rows}</tbody></table>`
}
<script>${new Html(SCRIPT)}</script></body></html>
`;
  return body.text;
}

function summary({ statuses, listingLoadedAt, now }: StatusPageInput): string {
  const count = (tones: Tone[]) => statuses.filter((s) => tones.includes(TONES[s.state])).length;
  const parts = [`${count(['ok'])} synced`, `${count(['bad', 'warn'])} failing`];
  const busy = count(['busy']);
  if (busy > 0) parts.push(`${busy} starting or syncing`);
  const invalid = count(['invalid']);
  if (invalid > 0) parts.push(`${invalid} invalid`);
  const stopped = count(['idle']);
  if (stopped > 0) parts.push(`${stopped} stopped`);
  const listing = listingLoadedAt === null ? 'no valid listing loaded yet' : `listing loaded at ${listingLoadedAt} (${ago(listingLoadedAt, now)})`;
  return `${statuses.length} ${statuses.length === 1 ? 'entry' : 'entries'}: ${parts.join(', ')} · ${listing}`;
}

function row(s: RepoStatus, now: number): Html {
  const tone = TONES[s.state];
  return html`<tr class="tone-${tone}" data-name="${s.name}" data-state="${s.state}">
<td data-label="Entry"><strong>${s.name}</strong>${s.repo === '' ? '' : html`<div class="sub">${s.ref ?? 'HEAD'} · ${redact(s.repo)}</div>`}<div class="sub">${s.path}</div></td>
<td data-label="State"><span class="badge">${s.state}</span>${progress(s)}</td>
<td data-label="Published">${s.publishedCommit === null ? html`<span class="empty">none</span>` : html`<code class="sha" title="${s.publishedCommit}">${s.publishedCommit.slice(0, 12)}</code>`}</td>
<td data-label="Last success">${s.lastSuccessAt === null ? html`<span class="empty">never</span>` : html`<time datetime="${s.lastSuccessAt}" title="${s.lastSuccessAt}">${ago(s.lastSuccessAt, now)}</time>`}</td>
<td data-label="Interval">${s.intervalMs === null ? '' : duration(s.intervalMs)}</td>
<td data-label="Next retry">${s.nextRetryAt === null ? '' : html`<time datetime="${s.nextRetryAt}" title="${s.nextRetryAt}">${until(s.nextRetryAt, now)}</time>`}</td>
<td data-label="Last error" class="error">${errors(s)}</td>
<td data-label="Restarts">${s.restarts}</td>
<td data-label="History">${strip(s.history)}</td>
</tr>
`;
}

function progress(s: RepoStatus): Html {
  const p = s.progress;
  if (p === null) return html``;
  const parts: string[] = [p.phase];
  if (p.percent !== null) parts.push(`${Math.floor(p.percent)}%`);
  if (p.bytes !== null) parts.push(bytes(p.bytes));
  return html`<div class="sub progress">${parts.join(' · ')}</div>`;
}

/** The last sync error (dimmed once a later sync succeeded), the agent's last death, the listing's refusal. */
function errors(s: RepoStatus): Html[] {
  const out: Html[] = [];
  if (s.invalid !== null) out.push(html`<div><span class="kind">invalid listing entry</span> ${redact(s.invalid.message)}</div>`);
  const e = s.lastError;
  if (e !== null) {
    const recovered = s.lastSuccessAt !== null && s.lastSuccessAt > e.at;
    out.push(html`<div class="${recovered ? 'old' : ''}" title="${e.at}"><span class="kind">${e.kind}</span> ${redact(e.message)}</div>`);
  }
  if (s.agentError !== null) out.push(html`<div class="sub" title="${s.agentError.at}">agent: ${redact(s.agentError.message)}</div>`);
  // A spoke: while its hub's event stream is down, it learns of publishes only by polling the hub.
  if (s.hub?.stream === 'down') out.push(html`<div class="sub" title="${s.hub.since}">hub stream down, polling the hub: ${redact(s.hub.reason ?? '')}</div>`);
  return out;
}

/** The history, oldest on the left, as a timeline reads. */
function strip(history: readonly SyncRecord[]): Html {
  if (history.length === 0) return html``;
  const marks = [...history].reverse().map((h) => {
    const what = h.result === 'failed' ? `failed (${h.errorKind ?? 'unknown'})` : `${h.result} ${h.commit?.slice(0, 12) ?? ''}`;
    const times = h.count > 1 ? ` ×${h.count}` : '';
    return html`<span class="h-${h.result}" title="${h.at} ${what}, ${duration(h.durationMs)}${times}"></span>`;
  });
  return html`<div class="strip" role="img" aria-label="last ${history.length} outcomes">${marks}</div>`;
}

export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${Number.isInteger(s) ? s : s.toFixed(1)} s`;
  if (s < 3600) return `${Math.round(s / 6) / 10} min`;
  if (s < 86_400) return `${Math.round(s / 360) / 10} h`;
  return `${Math.round(s / 8640) / 10} d`;
}

function ago(at: string, now: number): string {
  const ms = now - Date.parse(at);
  return Number.isNaN(ms) ? at : ms < 1000 ? 'just now' : `${duration(ms).replace(/\.\d/, '')} ago`;
}

function until(at: string, now: number): string {
  const ms = Date.parse(at) - now;
  return Number.isNaN(ms) ? at : ms <= 0 ? 'due' : `in ${duration(ms).replace(/\.\d/, '')}`;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}
