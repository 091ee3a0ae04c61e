/** A replica as this one sees it. */
export interface PeerState {
  Peer: string;
  /** in-sync: same replicated state; differs: anti-entropy will pull; unreachable: no answer. */
  State: 'in-sync' | 'differs' | 'unreachable';
  Error?: string;
  DurationMs: number;
}

export interface PeerStatusDeps {
  peers: () => Promise<string[]>;
  localDigest: () => string;
  /** The peer's digest (GET /v1/docker-flow-proxy/replica), with a timeout. */
  fetchDigest: (peer: string) => Promise<string>;
  /** Answers are reused this long, so that open dashboards cost the peers little. */
  ttlMs: number;
  now?: () => number;
}

/** The state of every replica, compared by digest; one round at a time, cached for ttlMs. */
export function peerStatus(deps: PeerStatusDeps): () => Promise<PeerState[]> {
  const now = deps.now ?? (() => Date.now());
  let cached: { at: number; states: Promise<PeerState[]> } | undefined;
  const round = async (): Promise<PeerState[]> => {
    const peers = await deps.peers().catch(() => [] as string[]);
    const local = deps.localDigest();
    return Promise.all(peers.map(async (peer): Promise<PeerState> => {
      const started = now();
      try {
        const digest = await deps.fetchDigest(peer);
        return { Peer: peer, State: digest === local ? 'in-sync' : 'differs', DurationMs: now() - started };
      } catch (e) {
        return { Peer: peer, State: 'unreachable', Error: e instanceof Error ? e.message : String(e), DurationMs: now() - started };
      }
    }));
  };
  return () => {
    if (!cached || now() - cached.at > deps.ttlMs) cached = { at: now(), states: round() };
    return cached.states;
  };
}
