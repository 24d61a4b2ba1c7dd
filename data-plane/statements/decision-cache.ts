import { LRUCache } from "lru-cache";
import type { QueryDecision, StatementInfo } from "../../proto/policy.js";

/**
 * Query decisions keyed by everything they can depend on when the policy declares itself cacheable
 * (`portcullis/query/cacheable`): bundle revision, session identity, protocol, position in the query,
 * effective search_path and catalog version, and the statement text. Emptied on every bundle swap.
 */
export class DecisionCache {
  private readonly cache: LRUCache<string, QueryDecision>;
  hits = 0;
  misses = 0;

  constructor(maxEntries = 50_000) {
    this.cache = new LRUCache({ max: maxEntries });
  }

  get(key: string): QueryDecision | undefined {
    const hit = this.cache.get(key);
    if (hit) this.hits++;
    else this.misses++;
    return hit;
  }

  set(key: string, decision: QueryDecision): void {
    this.cache.set(key, decision);
  }

  clear(): void {
    this.cache.clear();
  }

  get size(): number {
    return this.cache.size;
  }
}

/**
 * Statement analyses by normalized text (literals replaced by placeholders), for statements whose
 * analysis does not depend on literal values; `null` marks a shape that does not qualify.
 */
export class ShapeCache {
  private readonly cache = new LRUCache<string, StatementInfo>({ max: 10_000 });

  get(normalized: string): StatementInfo | undefined {
    return this.cache.get(normalized);
  }

  set(normalized: string, info: StatementInfo): void {
    this.cache.set(normalized, info);
  }
}
