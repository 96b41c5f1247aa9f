// git's pkt-line framing (gitprotocol-common(5)), as much as serving needs: reading the `want`
// lines of an upload-pack request so that a spoke can be given nothing but the published commit.
// Pure, no I/O.

/** One packet's payload; `null` for the special packets (flush 0000, delim 0001, response-end 0002). */
export type Packet = string | null;

export class PktLineError extends Error {
  override readonly name = 'PktLineError';
}

/** Every packet of `body`, in order; a truncated or malformed length is an error, never a guess. */
export function readPackets(body: Buffer): Packet[] {
  const packets: Packet[] = [];
  let at = 0;
  while (at < body.length) {
    if (at + 4 > body.length) throw new PktLineError(`truncated packet length at byte ${at}`);
    const hex = body.toString('latin1', at, at + 4);
    if (!/^[0-9a-f]{4}$/.test(hex)) throw new PktLineError(`bad packet length ${JSON.stringify(hex)} at byte ${at}`);
    const length = Number.parseInt(hex, 16);
    if (length < 4) {
      if (length === 3) throw new PktLineError(`bad packet length 0003 at byte ${at}`);
      packets.push(null);
      at += 4;
      continue;
    }
    if (at + length > body.length) throw new PktLineError(`packet at byte ${at} runs past the end of the request`);
    packets.push(body.toString('latin1', at + 4, at + length));
    at += length;
  }
  return packets;
}

/** The object ids a request asks for: `want <oid>` in v0 and v2 alike; `want-ref` is named as such. */
export function wantedObjects(packets: readonly Packet[]): { oids: string[]; wantRefs: string[] } {
  const oids: string[] = [];
  const wantRefs: string[] = [];
  for (const p of packets) {
    if (p === null) continue;
    const line = p.replace(/\n$/, '');
    if (line.startsWith('want-ref ')) wantRefs.push(line.slice(9));
    else if (line.startsWith('want ')) oids.push((line.slice(5).split(/[\s\0]/)[0] ?? '').toLowerCase());
  }
  return { oids, wantRefs };
}

/** One packet carrying `text` (a line, with its newline). */
export function packet(text: string): Buffer {
  const payload = Buffer.from(text, 'utf8');
  return Buffer.concat([Buffer.from((payload.length + 4).toString(16).padStart(4, '0'), 'latin1'), payload]);
}

export const FLUSH = Buffer.from('0000', 'latin1');

/**
 * The answer to a protocol v2 `ls-refs` for refs that all name `commit`, HEAD a symref to
 * `branches[0]`: as git's upload-pack writes it, filtered by the request's `ref-prefix` arguments,
 * with `symref-target` when asked for (`symrefs`). Branches need no `peeled:`.
 */
export function lsRefsAnswer(request: readonly Packet[], commit: string, branches: readonly string[]): Buffer {
  const args = request.filter((p): p is string => p !== null).map((p) => p.replace(/\n$/, ''));
  const prefixes = args.filter((a) => a.startsWith('ref-prefix ')).map((a) => a.slice(11));
  const symrefs = args.includes('symrefs');
  const wanted = (name: string) => prefixes.length === 0 || prefixes.some((p) => name.startsWith(p));
  const lines = [
    ...(wanted('HEAD') ? [`${commit} HEAD${symrefs ? ` symref-target:${branches[0]}` : ''}\n`] : []),
    ...branches.filter(wanted).map((b) => `${commit} ${b}\n`),
  ];
  return Buffer.concat([...lines.map(packet), FLUSH]);
}

/** Is this a protocol v2 request for `command`? */
export const isV2Command = (request: readonly Packet[], command: string): boolean => request[0] === `command=${command}\n`;
