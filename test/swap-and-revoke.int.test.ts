/**
 * A bundle swapped and another subject revoked while sessions run write transactions on two data
 * planes (test/harness/swap-and-revoke.ts; `make bench-hardening` runs it at 1,000 sessions): every
 * transaction of the sessions not revoked commits and is in the database, every revoked session ends
 * with 57P01 and its subject's logins are refused.
 */
import { describe, expect, it } from "vitest";
import { runSwapAndRevoke } from "./harness/swap-and-revoke.js";

describe("a bundle swap and a revocation under load", () => {
  it("fail no transaction of the sessions not revoked, and lose no revocation", async () => {
    const result = await runSwapAndRevoke({ sessions: 60, dataPlanes: 2 });
    console.log(
      `swap and revoke, 60 sessions: ${result.bystander_commits} bystander transactions (${result.bystander_commits_after_swap} after the swap), swap ${result.swap_ms} ms, revoke ${result.revoke_ms} ms`,
    );
    expect(result.failures).toEqual([]);
    expect(result.failed_transactions_not_revoked).toBe(0);
    expect(result.revocations_lost).toBe(0);
    expect(result.revoked_sessions).toBe(6);
    expect(result.bystander_commits_after_swap).toBeGreaterThanOrEqual(54);
  }, 300_000);
});
