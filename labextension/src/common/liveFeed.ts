/**
 * The live panel's one request: a long poll of `dsp/changes` with the lists the visible
 * views show. The server answers when one of their change tokens moves (or after ~25 s
 * unchanged); the views whose list changed reload it, the others do nothing. When no view
 * is visible, or the browser tab is hidden, the request is aborted and none is made.
 */
import { DSPClient } from './api';

/** A list a view shows (see jupyter_dsp/server/changes.py for the keys). */
export type ChangeKey = string;

const RETRY_MIN_MS = 2000;
const RETRY_MAX_MS = 30000;

interface ISubscription {
  key: ChangeKey;
  onChange: () => void;
}

export class LiveFeed {
  constructor(private readonly client: DSPClient) {
    document.addEventListener('visibilitychange', () => this.schedule());
  }

  /** Long polls sent so far (tests and the bench read it). */
  requests = 0;

  /**
   * Call `onChange` whenever the list `key` changes, until the returned function is called.
   * Subscribe only while the view is visible: a view that is not costs no request.
   */
  watch(key: ChangeKey, onChange: () => void): () => void {
    const id = ++this.nextId;
    this.subs.set(id, { key, onChange });
    this.schedule();
    return () => {
      this.subs.delete(id);
      this.schedule();
    };
  }

  private get keys(): ChangeKey[] {
    if (document.visibilityState === 'hidden') {
      return [];
    }
    return [...new Set([...this.subs.values()].map(s => s.key))].sort();
  }

  /** Re-plan after the watched set or the page's visibility changed (batched per task). */
  private schedule(): void {
    if (this.planned) {
      return;
    }
    this.planned = true;
    window.setTimeout(() => {
      this.planned = false;
      const keys = this.keys.join(',');
      if (keys === this.asking) {
        return;
      }
      this.controller?.abort(); // the running loop, if any, starts over with the new set
      if (!this.running && keys) {
        void this.loop();
      }
    }, 0);
  }

  private async loop(): Promise<void> {
    this.running = true;
    try {
      let failures = 0;
      for (;;) {
        const keys = this.keys;
        if (!keys.length) {
          return;
        }
        const controller = new AbortController();
        this.controller = controller;
        this.asking = keys.join(',');
        const since = keys.map(k => this.tokens.get(k) ?? '').join(',');
        // no_track_activity: a background check is not user activity (idle culling still works)
        const query = new URLSearchParams({ watch: this.asking, since, no_track_activity: '1' });
        try {
          this.requests++;
          const answer = await this.client.json<{ tokens?: Record<string, string> }>(
            `${this.client.url('changes')}?${query}`,
            { signal: controller.signal }
          );
          failures = 0;
          this.apply(answer.tokens ?? {});
        } catch (reason) {
          if (controller.signal.aborted) {
            continue; // the set changed or the page was hidden: ask again (or stop)
          }
          failures++;
          const wait = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** (failures - 1));
          await new Promise(resolve => window.setTimeout(resolve, wait));
        }
      }
    } finally {
      this.running = false;
      this.asking = '';
      this.controller = null;
    }
  }

  private apply(tokens: Record<string, string>): void {
    const changed: ChangeKey[] = [];
    for (const [key, token] of Object.entries(tokens)) {
      const before = this.tokens.get(key);
      this.tokens.set(key, token);
      if (before !== undefined && before !== token) {
        changed.push(key);
      }
    }
    for (const sub of [...this.subs.values()]) {
      if (changed.includes(sub.key)) {
        try {
          sub.onChange();
        } catch (reason) {
          console.error('jupyter-dsp: a live view failed to reload', reason);
        }
      }
    }
  }

  private subs = new Map<number, ISubscription>();
  private tokens = new Map<ChangeKey, string>();
  private nextId = 0;
  private planned = false;
  private running = false;
  private asking = '';
  private controller: AbortController | null = null;
}
