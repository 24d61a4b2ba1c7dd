import { describe, expect, it } from "vitest";
import { startDeadline } from "./deadline.js";

const resolvesAfter = <T>(ms: number, value: T) =>
  new Promise<T>((resolve) => setTimeout(() => resolve(value), ms));

describe("a deadline over several steps", () => {
  it("passes every step that finishes in time, and stops its timer", async () => {
    const expired: Error[] = [];
    const deadline = startDeadline(
      200,
      () => new Error("too slow"),
      (err) => expired.push(err),
    );
    expect(await deadline.within(resolvesAfter(5, "connected"))).toBe("connected");
    expect(await deadline.within(resolvesAfter(5, "authenticated"))).toBe("authenticated");
    deadline.clear();
    await resolvesAfter(250, undefined);
    expect(deadline.expired).toBe(false);
    expect(expired).toEqual([]);
  });

  it("covers the steps together: the one pending when time runs out rejects, and its late result is handed back", async () => {
    const told: string[] = [];
    const late: string[] = [];
    const deadline = startDeadline(
      60,
      () => new Error("login timed out"),
      (err) => told.push(err.message),
    );
    await deadline.within(resolvesAfter(30, "first"));
    await expect(deadline.within(resolvesAfter(80, "socket"), (s) => late.push(s))).rejects.toThrow(
      "login timed out",
    );
    expect(deadline.expired).toBe(true);
    expect(told).toEqual(["login timed out"]);
    await resolvesAfter(60, undefined);
    expect(late).toEqual(["socket"]);
    // a step started after the deadline rejects at once
    await expect(deadline.within(resolvesAfter(1, "x"))).rejects.toThrow("login timed out");
  });

  it("hands nothing back for a step that finished in time, and lets a failing step fail as itself", async () => {
    const late: string[] = [];
    const deadline = startDeadline(50, () => new Error("late"));
    await deadline.within(resolvesAfter(5, "quick"), (s) => late.push(s));
    await expect(deadline.within(Promise.reject(new Error("refused")))).rejects.toThrow("refused");
    await resolvesAfter(80, undefined);
    expect(late).toEqual([]);
    deadline.clear();
  });
});
